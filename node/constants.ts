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
/** Failed logins allowed per user name inside LOGIN_WINDOW before further attempts are refused. */
export const DEFAULT_MAX_FAILED_LOGINS_PER_USER = 10
/** Failed logins allowed per client address inside LOGIN_WINDOW. */
export const DEFAULT_MAX_FAILED_LOGINS_PER_ADDRESS = 30
export const LOGIN_WINDOW = 5 * MINUTE
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
