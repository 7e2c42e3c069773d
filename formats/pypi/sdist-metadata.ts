import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import { InvalidInputError } from '../../store/index.ts'
import { MAX_CORE_METADATA_BYTES, MAX_SDIST_ENTRIES, MAX_SDIST_SCAN_BYTES } from './constants.ts'
import type { StoredFile } from './wheel-metadata.ts'

export interface SdistMetadataLimits {
  /** @default MAX_CORE_METADATA_BYTES */
  maxMetadataBytes?: number
  /** Decompressed bytes read before giving up. @default MAX_SDIST_SCAN_BYTES */
  maxScanBytes?: number
  /** Tar entries read before giving up. @default MAX_SDIST_ENTRIES */
  maxEntries?: number
}

function invalid(why: string): InvalidInputError {
  return new InvalidInputError(`Invalid source distribution: ${why}`)
}

/** Counts decompressed bytes and fails once they pass the cap (a gzip bomb stops here). */
class ScanLimit extends Transform {
  seen = 0
  constructor(private readonly cap: number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.cap) {
      done(invalid(`it decompresses to more than ${this.cap} bytes before PKG-INFO (a decompression bomb?)`))
      return
    }
    done(null, chunk)
  }
}

/**
 * Reads `{name}-{version}/PKG-INFO` from a stored .tar.gz, streaming and bounded: stops at the
 * first top-level PKG-INFO, and refuses after `maxEntries` entries or `maxScanBytes` decompressed
 * bytes, or when PKG-INFO itself declares more than `maxMetadataBytes`.
 */
export async function readSdistPkgInfo(file: StoredFile, limits: SdistMetadataLimits = {}): Promise<Buffer> {
  const maxMetadataBytes = limits.maxMetadataBytes ?? MAX_CORE_METADATA_BYTES
  const maxEntries = limits.maxEntries ?? MAX_SDIST_ENTRIES
  const limit = new ScanLimit(limits.maxScanBytes ?? MAX_SDIST_SCAN_BYTES)
  const extract = tar.extract()
  let failure: Error | undefined
  const source = await file.blobs.open(file.sha256)
  const done = pipeline(source, createGunzip(), limit, extract).catch((err: Error) => {
    // Our own refusal (the scan cap) is the cause; a 'premature close' after it is only its echo.
    if (err instanceof InvalidInputError || !failure) failure = err
  })
  let entries = 0
  let found: Buffer | undefined
  try {
    for await (const entry of extract) {
      entries++
      if (entries > maxEntries) throw invalid(`no PKG-INFO within the first ${maxEntries} entries`)
      const name = entry.header.name.replace(/^\.\//, '')
      if (/^[^/]+\/PKG-INFO$/.test(name) && (entry.header.type === 'file' || entry.header.type === 'contiguous-file')) {
        const size = entry.header.size ?? 0
        if (size > maxMetadataBytes) throw invalid(`${name} is ${size} bytes, more than the maximum of ${maxMetadataBytes}`)
        const chunks: Buffer[] = []
        for await (const chunk of entry) chunks.push(chunk as Buffer)
        found = Buffer.concat(chunks)
        break
      }
      entry.resume()
    }
  } catch (err) {
    if (err instanceof InvalidInputError) throw err
    failure ??= err as Error
  } finally {
    extract.destroy()
    source.destroy()
    await done
  }
  if (found) return found
  if (failure instanceof InvalidInputError) throw failure
  if (failure && !/premature close/i.test(failure.message)) throw invalid(`not a readable .tar.gz (${failure.message})`)
  throw invalid('no PKG-INFO file in its top-level directory')
}
