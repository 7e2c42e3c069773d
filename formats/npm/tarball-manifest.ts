import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { extract } from 'tar-stream'
import { InvalidInputError } from '../../store/index.ts'
import { MAX_PACKAGE_JSON_BYTES, MAX_TARBALL_SCAN_BYTES, MAX_TARBALL_SCAN_ENTRIES } from './constants.ts'

export interface TarballScanLimits {
  /** @default MAX_TARBALL_SCAN_BYTES */
  maxBytes?: number
  /** @default MAX_TARBALL_SCAN_ENTRIES */
  maxEntries?: number
  /** @default MAX_PACKAGE_JSON_BYTES */
  maxPackageJsonBytes?: number
}

/** Counts decompressed bytes and fails once there are more than `max` (a gzip bomb stops here). */
class ByteCap extends Transform {
  private seen = 0
  constructor(private readonly max: number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.max) {
      done(new InvalidInputError(`the tarball holds more than ${this.max} bytes before its package.json`))
      return
    }
    done(null, chunk)
  }
}

const FOUND = Symbol('package.json read')

/**
 * Reads `package/package.json` (npm strips the first path segment, whatever its name) out of
 * a gzipped npm tarball, bounded: at most `maxBytes` decompressed, `maxEntries` entries and a
 * package.json of `maxPackageJsonBytes`; reading stops as soon as package.json is parsed.
 * Throws InvalidInputError for a tarball that is not gzip, not tar, or has no usable package.json.
 */
export async function readTarballManifest(tgz: Readable, limits: TarballScanLimits = {}): Promise<Record<string, unknown>> {
  const maxEntries = limits.maxEntries ?? MAX_TARBALL_SCAN_ENTRIES
  const maxJson = limits.maxPackageJsonBytes ?? MAX_PACKAGE_JSON_BYTES
  const tar = extract()
  let manifest: Record<string, unknown> | undefined
  let entries = 0
  const scan = async () => {
    for await (const entry of tar) {
      entries++
      if (entries > maxEntries) throw new InvalidInputError(`the tarball has more than ${maxEntries} entries before its package.json`)
      const { name, type, size } = entry.header
      if (type === 'file' && /^[^/]+\/package\.json$/.test(name.replace(/^\.\//, ''))) {
        if ((size ?? 0) > maxJson) throw new InvalidInputError(`package.json in the tarball is larger than ${maxJson} bytes`)
        const parts: Buffer[] = []
        let length = 0
        for await (const part of entry as AsyncIterable<Buffer>) {
          length += part.length
          if (length > maxJson) throw new InvalidInputError(`package.json in the tarball is larger than ${maxJson} bytes`)
          parts.push(part)
        }
        let parsed: unknown
        try {
          parsed = JSON.parse(Buffer.concat(parts).toString('utf8'))
        } catch {
          throw new InvalidInputError('package.json in the tarball is not valid JSON')
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          throw new InvalidInputError('package.json in the tarball is not a JSON object')
        }
        manifest = parsed as Record<string, unknown>
        throw FOUND
      }
      entry.resume()
    }
  }
  // The pipeline's failure (not gzip, bomb cap, truncated tar) also ends the entry loop with
  // that error, so it is reported through scan(); this only keeps it from going unhandled.
  const piped = pipeline(tgz, createGunzip(), new ByteCap(limits.maxBytes ?? MAX_TARBALL_SCAN_BYTES), tar)
  let pipeFailure: unknown
  piped.catch((err: unknown) => {
    pipeFailure = err
  })
  try {
    await scan()
    await piped
  } catch (err) {
    tgz.destroy()
    tar.destroy()
    if (err === FOUND && manifest) return manifest
    const cause = err instanceof InvalidInputError ? err : (pipeFailure ?? err)
    if (cause instanceof InvalidInputError) throw cause
    throw new InvalidInputError(`the tarball cannot be read: ${(cause as Error)?.message ?? String(cause)}`)
  }
  if (manifest) return manifest
  throw new InvalidInputError('the tarball has no package/package.json')
}
