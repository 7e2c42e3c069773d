/** Defaults of remote (proxy) repositories. Times in milliseconds, sizes in bytes. */

const SECOND = 1000
const MINUTE = 60 * SECOND
const MiB = 1024 * 1024

/** Fetched metadata (packuments, simple pages, index files) is served this long before it is revalidated. */
export const DEFAULT_METADATA_TTL = 5 * MINUTE
/** An upstream 404 is remembered this long: repeated misses do not reach the upstream. */
export const DEFAULT_NEGATIVE_TTL = 30 * SECOND
/** Upstream response headers, and every gap in its body, must arrive within this. */
export const DEFAULT_UPSTREAM_TIMEOUT = 30 * SECOND
/** Largest metadata document read from an upstream (metadata is parsed in memory to be rewritten). */
export const DEFAULT_MAX_METADATA_BYTES = 64 * MiB
/** Most remembered upstream 404s; the oldest are forgotten first. */
export const MAX_NEGATIVE_ENTRIES = 10_000
/** Redirects followed per upstream request (pypi.org → files.pythonhosted.org, CDNs). */
export const MAX_UPSTREAM_REDIRECTS = 5
/** Buffer of each branch of the tee that feeds the client and the store at once. */
export const TEE_HIGH_WATER_MARK = 256 * 1024
/** Prefix of the paths where formats keep fetched metadata (`.remote/<name>/…`). */
export const REMOTE_METADATA_DIR = '.remote'

/** Response header telling how a request was answered: HIT, MISS, REVALIDATED or STALE. */
export const CACHE_STATUS_HEADER = 'x-ak-cache'
/** RFC 7234 §5.5.1 warning sent with stale metadata. */
export const STALE_WARNING = '110 - "Response is Stale"'
