import type { Readable } from 'node:stream'
import { InvalidInputError } from '../../store/index.ts'
import { findTarGzEntry } from '../core/index.ts'
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

/**
 * Finds `{dir}/Cargo.toml` in a .crate (a gzip-compressed tar, one top directory named
 * `{name}-{version}`) and reads the package name and version from it. Bounded: stops at the
 * manifest, and refuses archives that expand past maxScanBytes or hold too many entries
 * before it, so a decompression bomb costs at most that much work.
 */
export async function readCrateManifest(source: Readable, dir: string, limits: CrateScanLimits = {}): Promise<PackageId> {
  const target = `${dir}/Cargo.toml`
  const found = await findTarGzEntry(source, {
    match: (name) => name === target,
    maxInflatedBytes: limits.maxScanBytes ?? MAX_CRATE_SCAN_BYTES,
    maxEntries: limits.maxEntries ?? MAX_CRATE_SCAN_ENTRIES,
    maxEntryBytes: limits.maxManifestBytes ?? MAX_MANIFEST_BYTES,
    what: 'Cargo.toml',
    invalid: (why) => new InvalidInputError(`the .crate is refused: ${why}`),
  })
  if (!found) throw new InvalidInputError(`the .crate has no ${target}`)
  return readPackageId(found.data.toString('utf8'))
}
