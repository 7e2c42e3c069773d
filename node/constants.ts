import { GiB, HOUR, KiB, MINUTE, SECOND } from '../store/index.ts'

/** @default 8080 */
export const DEFAULT_HTTP_PORT = 8080
/** Loopback by default, like Verdaccio: expose a node deliberately with AK_HTTP_HOST=0.0.0.0. */
export const DEFAULT_HTTP_HOST = '127.0.0.1'
export const DEFAULT_DATA_DIR = './data'
/** Largest upload the node accepts unless configured otherwise. */
export const DEFAULT_MAX_UPLOAD_BYTES = 16 * GiB
/** Largest JSON body of the management API. */
export const DEFAULT_MAX_JSON_BYTES = 1024 * 1024
export const DEFAULT_GC_INTERVAL = 6 * HOUR
export const DEFAULT_GC_GRACE = 1 * HOUR
export const DEFAULT_SHUTDOWN_TIMEOUT = 30 * SECOND
export const DEFAULT_SESSION_TTL = 12 * HOUR
/**
 * Failed passwords of one user name before back-off starts: for the (user, address) pair that
 * failed (exponential, up to LOGIN_PAIR_MAX_BACKOFF), and for the name's other failing pairs
 * (up to LOGIN_USER_MAX_BACKOFF). See node/auth/login-throttle.ts for the whole rule.
 */
export const DEFAULT_MAX_FAILED_LOGINS_PER_USER = 10
/** Failed passwords from one client address (any user names) before its back-off starts. */
export const DEFAULT_MAX_FAILED_LOGINS_PER_ADDRESS = 30
/** A user name's and an address's failure counts are forgotten this long after their last failure. */
export const LOGIN_WINDOW = 5 * MINUTE
/** A (user, address) pair's failure count is forgotten this long after its last failure (more than its longest back-off). */
export const LOGIN_PAIR_MEMORY = 1 * HOUR
/** The first back-off step; each further failure doubles it. */
export const LOGIN_BACKOFF_BASE = 1 * SECOND
/** Longest wait of a (user, address) pair that keeps failing. */
export const LOGIN_PAIR_MAX_BACKOFF = 15 * MINUTE
/** Longest wait a user name's failures from other addresses impose on its failing pairs: never a lock-out. */
export const LOGIN_USER_MAX_BACKOFF = 5 * SECOND
/** Longest wait an address's failures impose on its failing pairs. */
export const LOGIN_ADDRESS_MAX_BACKOFF = 30 * SECOND
/** Longest an answer to a pair without failures is held while its address is over its limit. */
export const LOGIN_ADDRESS_MAX_HOLD = 2 * SECOND
/** Failure counts kept per kind (pairs, user names, addresses); the oldest are dropped first. */
export const LOGIN_FAILURE_KEYS = 100_000
/** A verified password is remembered (as a hash) so Basic-auth clients don't pay scrypt per request. */
export const CREDENTIAL_CACHE_TTL = 1 * MINUTE
export const CREDENTIAL_CACHE_SIZE = 10_000
/** Body of a request that sends nothing for this long is abandoned (408). */
export const DEFAULT_BODY_IDLE_TIMEOUT = 60 * SECOND
/** A body slower than this over the slow-upload window is cut (408); bytes per second. */
export const DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND = 1 * KiB
/** The sliding window the minimum upload rate is measured over, in seconds. */
export const DEFAULT_SLOW_UPLOAD_WINDOW_SECONDS = 60
/** A resumable upload session (OCI) untouched for this many seconds is dropped with its temp file. */
export const DEFAULT_UPLOAD_SESSION_TTL_SECONDS = 3600
/** Resumable upload sessions one user may have open at once. */
export const DEFAULT_MAX_UPLOAD_SESSIONS = 64
/** Uploads are refused (507) and the node is not ready while its data directory has less free space than this. */
export const DEFAULT_MIN_FREE_BYTES = 1 * GiB
export const INITIAL_ADMIN_PASSWORD_FILE = 'initial-admin-password'
/** Lifetime of bearer tokens handed to token-auth clients (Docker's /v2/token). */
export const BEARER_TTL = 1 * HOUR
/** How often a token's last_used_at is written at most. */
export const TOKEN_TOUCH_INTERVAL = 1 * MINUTE
