/** Time units in milliseconds. */
export const SECOND = 1000
export const MINUTE = 60 * SECOND

/** Port of the libp2p listener unless configured (the HTTP port is 8080). */
export const DEFAULT_MESH_PORT = 8081
/** Loopback by default, like the HTTP listener: expose the mesh deliberately. */
export const DEFAULT_MESH_HOST = '127.0.0.1'
/** The private kad-dht protocol: our DHT never mixes with the public IPFS one. */
export const KAD_PROTOCOL = '/ak/kad/1.0.0'
/** First wait before redialling a bootstrap peer that is unreachable or went away. */
export const RECONNECT_MIN_DELAY = 500
/** Longest wait between two redials of a bootstrap peer. */
export const RECONNECT_MAX_DELAY = 30 * SECOND
/** The private-network handshake (nonce exchange) must finish within this. */
export const PSK_HANDSHAKE_TIMEOUT = 5 * SECOND
/** Header of the libp2p pnet v1 key format (`swarm.key`). */
export const PSK_V1_HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'
