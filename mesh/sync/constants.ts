import { SECOND } from '../constants.ts'

export const SYNC_PROTOCOL = '/ak/sync/1.0.0'
/** Most events in one batch message. */
export const MAX_BATCH_EVENTS = 500
/** A batch holds events up to this many encoded bytes (a single larger event travels alone). */
export const MAX_BATCH_BYTES = 1024 * 1024
/** Largest message accepted at all (one event with a very long chunk manifest). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024
/** Largest pull request (a version vector). */
export const MAX_REQUEST_BYTES = 256 * 1024
/** Anti-entropy: pull from every connected peer this often even without a notification. */
export const ANTI_ENTROPY_INTERVAL = 5 * SECOND
/** How often the node looks for events appended locally, to notify its peers. */
export const LOCAL_CHANGE_POLL_INTERVAL = 200
/** A silent sync stream is abandoned after this. */
export const SYNC_IDLE_TIMEOUT = 15 * SECOND
/**
 * One pull answers at most this many events; the 'done' then advertises the server's version
 * vector, and the puller (seeing it is still behind) pulls again. Bounds one stream's work.
 */
export const MAX_PULL_EVENTS = 20_000
/** One pull answers at most this many encoded bytes (same continuation as MAX_PULL_EVENTS). */
export const MAX_PULL_BYTES = 64 * 1024 * 1024
/**
 * The puller stores and applies verified events in transactions of up to this many (several
 * messages each): every commit costs an fsync (synchronous=FULL) and rewrites the b-tree pages it
 * touched, so fewer, larger transactions catch up faster. Also bounds the events held in memory.
 */
export const APPLY_BATCH_EVENTS = 1_000
/** …and of up to this many payload bytes. */
export const APPLY_BATCH_BYTES = 8 * 1024 * 1024
/** Verified events wait at most this long (ms) for more before they are applied, when the stream pauses. */
export const APPLY_MAX_DELAY = 50
