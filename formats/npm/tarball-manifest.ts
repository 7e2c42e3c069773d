import type { Readable } from 'node:stream'
import { InvalidInputError } from '../../store/index.ts'
import { findTarGzEntry } from '../core/index.ts'
import { MAX_PACKAGE_JSON_BYTES, MAX_TARBALL_SCAN_BYTES, MAX_TARBALL_SCAN_ENTRIES } from './constants.ts'

export interface TarballScanLimits {
  /** @default MAX_TARBALL_SCAN_BYTES */
  maxBytes?: number
  /** @default MAX_TARBALL_SCAN_ENTRIES */
  maxEntries?: number
  /** @default MAX_PACKAGE_JSON_BYTES */
  maxPackageJsonBytes?: number
}

/**
 * Reads `package/package.json` (npm strips the first path segment, whatever its name) out of
 * a gzipped npm tarball, bounded: at most `maxBytes` decompressed, `maxEntries` entries and a
 * package.json of `maxPackageJsonBytes`; reading stops as soon as package.json is found.
 * Throws InvalidInputError for a tarball that is not gzip, not tar, or has no usable package.json.
 */
export async function readTarballManifest(tgz: Readable, limits: TarballScanLimits = {}): Promise<Record<string, unknown>> {
  const found = await findTarGzEntry(tgz, {
    match: (name) => /^[^/]+\/package\.json$/.test(name),
    maxInflatedBytes: limits.maxBytes ?? MAX_TARBALL_SCAN_BYTES,
    maxEntries: limits.maxEntries ?? MAX_TARBALL_SCAN_ENTRIES,
    maxEntryBytes: limits.maxPackageJsonBytes ?? MAX_PACKAGE_JSON_BYTES,
    what: 'package.json',
    invalid: (why) => new InvalidInputError(`the tarball cannot be read: ${why}`),
  })
  if (!found) throw new InvalidInputError('the tarball has no package/package.json')
  let parsed: unknown
  try {
    parsed = JSON.parse(found.data.toString('utf8'))
  } catch {
    throw new InvalidInputError('package.json in the tarball is not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidInputError('package.json in the tarball is not a JSON object')
  }
  return parsed as Record<string, unknown>
}
