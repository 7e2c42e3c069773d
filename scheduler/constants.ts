import { CHUNK_SIZE, SECOND } from '../store/index.ts'

export { CHUNK_SIZE }

/** Downloads that run at once; the rest wait in a queue (readers' downloads first). */
export const DEFAULT_MAX_CONCURRENT_DOWNLOADS = 4
/** Requests kept in flight per source before anything is measured. */
export const DEFAULT_PIPELINE_DEPTH = 4
/** Fewest requests kept in flight per source. */
export const MIN_PIPELINE_DEPTH = 2
/** Most requests kept in flight per source (each holds up to one chunk in memory). */
export const MAX_PIPELINE_DEPTH = 16
/** RTT assumed for a source nothing measured yet. */
export const DEFAULT_RTT = 20 // ms
/** Timeout of a chunk request while the source's rate is unknown. */
export const INITIAL_CHUNK_TIMEOUT = 30 * SECOND
/** Shortest chunk timeout, however fast the source measured. */
export const CHUNK_TIMEOUT_FLOOR = 5 * SECOND
/** A chunk may take this many times its expected time (rate and queue position) before it times out. */
export const CHUNK_TIMEOUT_FACTOR = 4
/** Failures in a row (errors, not busy answers or timeouts) after which a source is dropped from a download. */
export const MAX_CONSECUTIVE_FAILURES = 3
/** First pause after a source answered busy or timed out; it doubles with each one in a row. */
export const BUSY_BACKOFF = 250 // ms
/** Longest pause after busy answers or timeouts in a row. */
export const MAX_BUSY_BACKOFF = 8 * SECOND
/** Busy answers or timeouts in a row, with no chunk delivered between them, after which a source is dropped (it may come back). */
export const MAX_CONSECUTIVE_BACKOFFS = 16
/** A source dropped for failures (never a corrupt one) is taken back after this; it doubles each time it is dropped again. */
export const READMIT_AFTER = 2 * SECOND
/** Longest wait before a dropped source is taken back. */
export const MAX_READMIT_AFTER = 60 * SECOND
/** Endgame starts when no more than this many chunks are missing and all are requested. */
export const ENDGAME_CHUNKS = 8
/** In endgame, at most this many sources are asked for the same chunk. */
export const ENDGAME_DUPLICATES = 3
/** How often partial holders' have-maps are asked again during a download. */
export const HAVE_POLL_INTERVAL = 1 * SECOND
/** How often the directory is asked again for new sources during a download. */
export const DIRECTORY_POLL_INTERVAL = 5 * SECOND
/** A download fails when no source can give any missing chunk for this long. */
export const NO_SOURCE_TIMEOUT = 15 * SECOND
/** How long a have() or manifest() question to one source may take. */
export const SOURCE_QUERY_TIMEOUT = 5 * SECOND
/** Finished and failed downloads kept for transfers(). */
export const RECENT_TRANSFERS = 50
/** Weight of the newest sample in a source's measured rate. */
export const RATE_EWMA_ALPHA = 0.3
/** Verified chunks kept in memory ahead of a waiting reader (streamed without a read back from disk). */
export const RECENT_CHUNKS = 16
/** Largest read a streaming reader makes from a partial file. */
export const READER_BUFFER = CHUNK_SIZE
/** A partial download's have-bitmap is persisted (after an fdatasync of its bytes) at most this often. */
export const BITMAP_FLUSH_INTERVAL = 250 // ms
/** RTT floor when sizing a pipeline: a request's service time (read, send, verify, write) is never zero. */
export const PIPELINE_RTT_FLOOR = 50 // ms
/** Token buckets hold at least one chunk and at most this much of their rate. */
export const BUCKET_BURST = 0.25 // seconds of rate
