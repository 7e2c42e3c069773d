import { SECOND } from '../constants.ts'

/** The chunk protocol: have-maps, manifests, chunk bytes and have-map watches between peers. */
export const CHUNK_PROTOCOL = '/ak/chunk/1.0.0'
/** Largest request frame a peer may send (a request is one small JSON object). */
export const MAX_CHUNK_REQUEST_BYTES = 1024
/** Largest JSON response frame: a manifest (~43 bytes of base64 per chunk, so about 95,000 chunks). */
export const MAX_CHUNK_RESPONSE_BYTES = 4 * 1024 * 1024
/** Largest chunk a peer may send or be asked for (chunks are CHUNK_SIZE, 1 MiB, everywhere today). */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024
/** A request must arrive, and each response frame be written or read, within this. */
export const CHUNK_IDLE_TIMEOUT = 15 * SECOND
/** Requests (have, manifest, chunk) served at once for one peer; more are answered `busy`. */
export const DEFAULT_MAX_IN_FLIGHT_PER_PEER = 16
/** Requests served at once for all peers together; more are answered `busy`. */
export const DEFAULT_MAX_IN_FLIGHT = 64
/** Have-map watches one peer may hold open at once (each is one long-lived stream). */
export const DEFAULT_MAX_WATCHES_PER_PEER = 8
/** Pending have-map updates buffered for a slow watcher; past this only the latest is kept. */
export const MAX_WATCH_BACKLOG = 16

/** Header carrying the requesting node's signed token on the HTTP chunk routes. */
export const PEER_TOKEN_HEADER = 'x-ak-peer-token'
/** Lifetime of a token the requesting node mints (reused for many requests until near expiry). */
export const PEER_TOKEN_TTL = 30 * SECOND
/** The serving node refuses tokens that live longer than this (exp − iat, and exp − now). */
export const MAX_PEER_TOKEN_TTL = 60 * SECOND
/** A token is renewed when less than this is left of its life. */
export const PEER_TOKEN_RENEW_BEFORE = 10 * SECOND
/**
 * HKDF label of the key that MACs peer tokens (mesh/psk.ts deriveMeshSubkey): the token's `mac`
 * claim proves that its signer holds the mesh key, as the pnet handshake does on libp2p.
 */
export const PEER_TOKEN_MAC_LABEL = 'artifact-keeper/v1/http-chunk-peer-token-mac'
/** Tolerated clock difference between nodes when checking iat/exp. */
export const PEER_TOKEN_CLOCK_SKEW = 5 * SECOND
/** How long the serving node remembers a verified token (bounded by its exp). */
export const VERIFIED_TOKEN_CACHE_SIZE = 1024
/** HTTP URL advertised by a peer in its `info` answer is cached this long. */
export const PEER_INFO_TTL = 60 * SECOND
/** Streams a libp2p chunk source keeps open per peer between requests. */
export const POOL_SIZE = 16
/** A pooled stream idle this long is closed (well before the serving side's CHUNK_IDLE_TIMEOUT). */
export const POOL_IDLE = 5 * SECOND
