/** Limits and names of the cargo format. Sizes in bytes. */

const KiB = 1024
const MiB = 1024 * KiB

export const CARGO_FORMAT = 'cargo'

/** Largest JSON metadata part of a publish body (crates.io's metadata is a few KiB). */
export const MAX_PUBLISH_JSON_BYTES = 1 * MiB
/** Longest crate name (cargo and crates.io: 64). */
export const MAX_CRATE_NAME_LENGTH = 64
/** Most dependencies one version may declare. */
export const MAX_DEPENDENCIES = 1024
/** Most features one version may declare. */
export const MAX_FEATURES = 1024
/** Largest Cargo.toml read out of a .crate. */
export const MAX_MANIFEST_BYTES = 1 * MiB
/** Decompressed bytes scanned in a .crate while looking for its Cargo.toml (decompression-bomb bound). */
export const MAX_CRATE_SCAN_BYTES = 64 * MiB
/** Tar entries scanned in a .crate while looking for its Cargo.toml. */
export const MAX_CRATE_SCAN_ENTRIES = 10_000
/** Results per page of `cargo search` (crates.io caps per_page at 100). */
export const MAX_SEARCH_RESULTS = 100
/** Search results when the client does not say. */
export const DEFAULT_SEARCH_RESULTS = 10

export const INDEX_CONTENT_TYPE = 'text/plain; charset=utf-8'
export const CRATE_CONTENT_TYPE = 'application/x-tar'
