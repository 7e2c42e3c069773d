import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'

export interface TarGzEntryOptions {
  /** Whether this entry (a regular file; name without a leading './') is the one wanted. */
  match(name: string): boolean
  /** Decompressed bytes read before giving up: a gzip bomb costs at most this much work. */
  maxInflatedBytes: number
  /** Entries read before giving up. */
  maxEntries: number
  /** Largest accepted size of the wanted entry. */
  maxEntryBytes: number
  /** What the wanted entry is called in messages ("package.json", "Cargo.toml"…). */
  what: string
  /** Builds the format's own refusal from a reason (each protocol words and types it its way). */
  invalid(why: string): Error
}

/**
 * Streams a gzip-compressed tar and returns the first regular file that `match` accepts, or
 * undefined when the archive ends without one. Bounded, and stops reading at the match: npm
 * tarballs, crates and sdists all need one small metadata file out of a possibly huge or
 * hostile archive. Anything that is not gzip or not tar is refused through `invalid`.
 */
export async function findTarGzEntry(source: Readable, options: TarGzEntryOptions): Promise<{ name: string; data: Buffer } | undefined> {
  const ours = new WeakSet<Error>()
  const refuse = (why: string): Error => {
    const err = options.invalid(why)
    ours.add(err)
    return err
  }
  let inflated = 0
  const budget = new Transform({
    transform(chunk: Buffer, _enc, done) {
      inflated += chunk.length
      if (inflated > options.maxInflatedBytes) {
        done(refuse(`it decompresses to more than ${options.maxInflatedBytes} bytes before its ${options.what}`))
      } else done(null, chunk)
    },
  })
  const extract = tar.extract()
  let pipeError: unknown
  const piping = pipeline(source, createGunzip(), budget, extract).catch((err: unknown) => {
    pipeError = err
  })
  let loopError: unknown
  let found: { name: string; data: Buffer } | undefined
  try {
    let entries = 0
    for await (const entry of extract) {
      if (++entries > options.maxEntries) throw refuse(`more than ${options.maxEntries} entries before its ${options.what}`)
      const name = entry.header.name.replace(/^\.\//, '')
      const { type, size } = entry.header
      if ((type === 'file' || type === 'contiguous-file') && options.match(name)) {
        if ((size ?? 0) > options.maxEntryBytes) throw refuse(`${name} is larger than ${options.maxEntryBytes} bytes`)
        const parts: Buffer[] = []
        let length = 0
        for await (const part of entry as AsyncIterable<Buffer>) {
          length += part.length
          if (length > options.maxEntryBytes) throw refuse(`${name} is larger than ${options.maxEntryBytes} bytes`)
          parts.push(part)
        }
        found = { name, data: Buffer.concat(parts) }
        break
      }
      entry.resume()
    }
  } catch (err) {
    loopError = err
  } finally {
    source.destroy()
    extract.destroy()
    await piping
  }
  if (found) return found
  // Our own refusal wins over its echoes ('premature close', a broken iteration).
  for (const err of [pipeError, loopError]) if (err instanceof Error && ours.has(err)) throw err
  const cause = (pipeError ?? loopError) as Error | undefined
  if (cause && !/premature close/i.test(cause.message)) {
    throw refuse(`it is not a gzip-compressed tar archive (${cause.message})`)
  }
  return undefined
}
