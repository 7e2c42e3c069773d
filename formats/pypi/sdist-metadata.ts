import { InvalidInputError } from '../../store/index.ts'
import { findTarGzEntry } from '../core/index.ts'
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

/**
 * Reads `{name}-{version}/PKG-INFO` from a stored .tar.gz, streaming and bounded: stops at the
 * first top-level PKG-INFO, and refuses after `maxEntries` entries or `maxScanBytes` decompressed
 * bytes, or when PKG-INFO itself is more than `maxMetadataBytes`.
 */
export async function readSdistPkgInfo(file: StoredFile, limits: SdistMetadataLimits = {}): Promise<Buffer> {
  const found = await findTarGzEntry(await file.blobs.open(file.sha256), {
    match: (name) => /^[^/]+\/PKG-INFO$/.test(name),
    maxInflatedBytes: limits.maxScanBytes ?? MAX_SDIST_SCAN_BYTES,
    maxEntries: limits.maxEntries ?? MAX_SDIST_ENTRIES,
    maxEntryBytes: limits.maxMetadataBytes ?? MAX_CORE_METADATA_BYTES,
    what: 'PKG-INFO',
    invalid,
  })
  if (!found) throw invalid('no PKG-INFO file in its top-level directory')
  return found.data
}
