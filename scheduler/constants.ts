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
/** Failures in a row after which a source is dropped for the rest of a download. */
export const MAX_CONSECUTIVE_FAILURES = 3
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
/** Largest read a streaming reader makes from a partial file. */
export const READER_BUFFER = 256 * 1024
/** Token buckets hold at least one chunk and at most this much of their rate. */
export const BUCKET_BURST = 0.25 // seconds of rate
