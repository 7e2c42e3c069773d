/** Units, so limits below read as what they are. */
const KiB = 1024
const MiB = 1024 * KiB

export const GO_FORMAT = 'go'

/**
 * Largest module zip, compressed file and uncompressed contents alike (golang.org/x/mod/zip
 * MaxZipFile). The go command refuses larger ones, so a proxy has no reason to keep them.
 */
export const MAX_ZIP_BYTES = 500 * MiB

/** Largest go.mod in a module zip (golang.org/x/mod/zip MaxGoMod). */
export const MAX_GO_MOD_BYTES = 16 * MiB

/** Largest LICENSE in a module zip (golang.org/x/mod/zip MaxLICENSE). */
export const MAX_LICENSE_BYTES = 16 * MiB

/**
 * Most entries one module zip may hold. Go sets no count, but every entry name is kept in
 * memory for the case-folding collision check, so we bound it (the largest public modules hold
 * some tens of thousands of files).
 */
export const MAX_ZIP_ENTRIES = 200_000

/** Content types of the GOPROXY endpoints. */
export const CONTENT_TYPE = {
  list: 'text/plain; charset=utf-8',
  info: 'application/json',
  mod: 'text/plain; charset=utf-8',
  zip: 'application/zip',
} as const
