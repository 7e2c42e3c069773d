import { SECOND } from '../constants.ts'

/** How often every connected peer is pinged (plus once right after it connects). */
export const DEFAULT_PING_INTERVAL = 10 * SECOND
/** A ping that has not come back within this is dropped (no sample, no failure). */
export const PING_TIMEOUT = 5 * SECOND
/**
 * EWMA weights. RTT and jitter follow TCP's RFC 6298 estimator (alpha 1/8 for the mean,
 * beta 1/4 for the mean deviation); throughput reacts faster, since a link's bandwidth
 * changes with load far more than its latency does.
 */
export const RTT_ALPHA = 1 / 8
export const JITTER_BETA = 1 / 4
export const THROUGHPUT_ALPHA = 1 / 4
/** Transfers shorter than this are timed with too coarse a clock to say anything about bandwidth. */
export const MIN_TRANSFER_MS = 1
/** Profiles are written to SQLite at most this long after a change (one write per burst, not per sample). */
export const DEFAULT_PROFILE_FLUSH_DELAY = 2 * SECOND

/** The active bandwidth probe: the server streams the requested number of zero bytes. */
export const PROBE_PROTOCOL = '/ak/probe/1.0.0'
/** Bytes a probe asks for unless configured. */
export const DEFAULT_PROBE_BYTES = 1024 * 1024
/** The most a server sends for one probe, whatever is asked (a probe must stay cheap to serve). */
export const MAX_PROBE_BYTES = 8 * 1024 * 1024
/** A server serves one peer at most one probe per this interval; earlier ones are refused. */
export const PROBE_MIN_INTERVAL = 5 * SECOND
/** Probes a server runs at once, across all peers. */
export const MAX_CONCURRENT_PROBES = 2
/** A probe (request to last byte) is abandoned after this. */
export const PROBE_TIMEOUT = 15 * SECOND
/** Bytes per write while serving a probe. */
export const PROBE_WRITE_SIZE = 64 * 1024
