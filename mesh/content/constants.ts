import { MINUTE, SECOND } from '../constants.ts'

const HOUR = 60 * MINUTE

/** The have-summary gossip protocol (one long-lived stream per direction and peer). */
export const HAVE_PROTOCOL = '/ak/have/1.0.0'

/**
 * How often every held blob is announced again to the DHT. Provider records live twice this
 * long (PROVIDER_VALIDITY_FACTOR), so one missed refresh never loses a record. kad-dht's own
 * default is a 24 h refresh of 48 h records; a registry deletes blobs, so we keep both shorter.
 */
export const DEFAULT_PROVIDE_INTERVAL = 12 * HOUR
/** Provider records (ours, stored by peers; theirs, stored by us) expire after interval × this. */
export const PROVIDER_VALIDITY_FACTOR = 2
/** Blobs read from SQLite per announcement batch (the start-up pass over 100k blobs goes in these). */
export const ANNOUNCE_BATCH = 256
/** DHT provide operations running at once. */
export const PROVIDE_CONCURRENCY = 8
/** One provide (closest-peer query plus ADD_PROVIDER messages) must finish within this. */
export const PROVIDE_TIMEOUT = 30 * SECOND
/** After the first peer connects, wait this long (identify, routing table) before the first pass. */
export const ANNOUNCE_SETTLE_DELAY = 1 * SECOND
/** A pass that reached no peer while some were connected is retried after this (doubling, capped by the interval). */
export const ANNOUNCE_RETRY_DELAY = 2 * SECOND

/** How often the blob change feed (migration 083) is read. */
export const CHANGE_POLL_INTERVAL = 500
/** Change rows read at once. */
export const CHANGE_BATCH = 1024

/** Changes are gathered this long before a delta goes out to peers. */
export const HAVE_DEBOUNCE = 250
/** A full summary is sent to every peer this often (also keeps the stream from idling out). */
export const HAVE_FULL_INTERVAL = 60 * SECOND
/** Load is checked this often and a status message sent when it changed. */
export const LOAD_CHECK_INTERVAL = 1 * SECOND
/** After this many digests in deltas since the last full summary, the next message is a full one. */
export const MAX_DELTA_DIGESTS_BEFORE_FULL = 8192
/** Digests in one delta message (adds + removes). */
export const MAX_DELTA_DIGESTS = 1024
/** A receiver refuses more pending delta digests than this per peer (a sender must resend in full). */
export const MAX_PEER_DELTA_DIGESTS = 4 * MAX_DELTA_DIGESTS_BEFORE_FULL

/** Bloom filter: bits per held blob (≈ 1% false positives with BLOOM_HASHES = 7). */
export const BLOOM_BITS_PER_ITEM = 10
export const BLOOM_HASHES = 7
/** Smallest filter sent (bytes). */
export const BLOOM_MIN_BYTES = 128
/** Largest filter sent (bytes): past ~800k blobs the false-positive rate grows instead. */
export const BLOOM_MAX_BYTES = 1024 * 1024
/** Largest have message accepted: the largest filter in base64 plus labels and framing. */
export const MAX_HAVE_MESSAGE_BYTES = Math.ceil((BLOOM_MAX_BYTES * 4) / 3) + 64 * 1024
/** A have stream that sends nothing for this long is dropped (the sender sends at least every HAVE_FULL_INTERVAL). */
export const HAVE_IDLE_TIMEOUT = 3 * HAVE_FULL_INTERVAL
/** Opening a have stream must succeed within this. */
export const HAVE_OPEN_TIMEOUT = 10 * SECOND
/** Labels a peer may advertise, and their key/value lengths. */
export const MAX_LABELS = 32
export const MAX_LABEL_LENGTH = 128

/** findProviders on the DHT gives up after this (the swarm then works with what it has). */
export const FIND_PROVIDERS_TIMEOUT = 5 * SECOND
/** At most this many DHT providers are collected per lookup. */
export const MAX_DHT_PROVIDERS = 20
/** Dialling a DHT provider we are not connected to must succeed within this. */
export const PROVIDER_DIAL_TIMEOUT = 5 * SECOND
/**
 * Connected peers offered as possible partial holders of a blob no summary or provider record
 * names (nodes downloading it serve their verified chunks; summaries and provider records list
 * complete blobs only). The scheduler asks each for its have-map and skips those with nothing.
 */
export const MAX_PARTIAL_CANDIDATES = 16
