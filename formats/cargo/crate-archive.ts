import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import { AkError, InvalidInputError } from '../../store/index.ts'
import { MAX_CRATE_SCAN_BYTES, MAX_CRATE_SCAN_ENTRIES, MAX_MANIFEST_BYTES } from './constants.ts'
import { readPackageId, type PackageId } from './manifest.ts'

export interface CrateScanLimits {
  /** @default MAX_CRATE_SCAN_BYTES */
  maxScanBytes?: number
  /** @default MAX_CRATE_SCAN_ENTRIES */
  maxEntries?: number
  /** @default MAX_MANIFEST_BYTES */
  maxManifestBytes?: number
}

/** Counts decompressed bytes and fails once more than the budget flow through. */
class ByteBudget extends Transform {
  private seen = 0
  constructor(private readonly budget: number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.budget) {
      done(new InvalidInputError(`the .crate expands to more than ${this.budget} bytes before its Cargo.toml; refusing it`))
      return
    }
    done(null, chunk)
  }
}

async function readBounded(entry: Readable, max: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of entry) {
    size += (chunk as Buffer).length
    if (size > max) throw new InvalidInputError(`Cargo.toml in the .crate is larger than ${max} bytes`)
    parts.push(chunk as Buffer)
  }
  return Buffer.concat(parts)
}

/**
 * Finds `{dir}/Cargo.toml` in a .crate (a gzip-compressed tar, one top directory named
 * `{name}-{version}`) and reads the package name and version from it. Bounded: stops at the
 * manifest, and refuses archives that expand past maxScanBytes or hold too many entries
 * before it, so a decompression bomb costs at most that much work.
 */
export async function readCrateManifest(source: Readable, dir: string, limits: CrateScanLimits = {}): Promise<PackageId> {
  const maxScan = limits.maxScanBytes ?? MAX_CRATE_SCAN_BYTES
  const maxEntries = limits.maxEntries ?? MAX_CRATE_SCAN_ENTRIES
  const maxManifest = limits.maxManifestBytes ?? MAX_MANIFEST_BYTES
  const target = `${dir}/Cargo.toml`
  const extract = tar.extract()
  const feeding = pipeline(source, createGunzip(), new ByteBudget(maxScan), extract).then(
    () => undefined,
    (err: unknown) => err,
  )
  const invalid = (err: unknown): AkError =>
    err instanceof AkError ? err : new InvalidInputError(`the .crate is not a gzip-compressed tar archive: ${(err as Error).message}`)
  try {
    let entries = 0
    for await (const entry of extract) {
      if (++entries > maxEntries) throw new InvalidInputError(`the .crate holds more than ${maxEntries} entries before its Cargo.toml`)
      const name = entry.header.name.replace(/^\.\//, '')
      if (name === target && (entry.header.type === 'file' || entry.header.type === 'contiguous-file')) {
        if ((entry.header.size ?? 0) > maxManifest) throw new InvalidInputError(`Cargo.toml in the .crate is larger than ${maxManifest} bytes`)
        return readPackageId((await readBounded(entry as unknown as Readable, maxManifest)).toString('utf8'))
      }
      entry.resume()
    }
    const failed = await feeding
    if (failed !== undefined) throw invalid(failed)
    throw new InvalidInputError(`the .crate has no ${target}`)
  } catch (err) {
    // The pipeline's own failure (bad gzip, budget) is the real cause of a broken iteration.
    const failed = await Promise.race([feeding, new Promise((r) => setImmediate(r, undefined))])
    throw invalid(failed instanceof AkError ? failed : err)
  } finally {
    source.destroy()
    extract.destroy()
  }
}
