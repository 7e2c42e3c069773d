/*
 * The air-gap bundle file (docs/airgap.md). A framed binary format rather than tar: the trailer
 * signature covers "every byte before it", which a framed file makes an exact, streamable prefix,
 * while tar adds 512-byte block padding, end-of-archive blocks and header fields (mtime, uid) that
 * carry no meaning here. Every frame is a one-byte tag followed by a length, so a reader never
 * guesses and never buffers more than one bounded metadata frame.
 */

/** First bytes of every bundle: 8 ASCII bytes, then the format version as a big-endian u16. */
export const BUNDLE_MAGIC = Buffer.from('AKBUNDLE', 'ascii')
export const BUNDLE_VERSION = 1

/** Frame tags. */
export const FRAME = {
  /** The header: one JSON object (peer ID, vectors, counts), always the first frame. */
  header: 0x48, // 'H'
  /** A batch of signed events: {events:[…]}. */
  events: 0x45, // 'E'
  /** A blob: u32 length + JSON metadata (digests, size), then exactly `size` raw bytes. */
  blob: 0x42, // 'B'
  /** The trailer: 64 bytes of Ed25519 signature, then the end of the file. */
  signature: 0x53, // 'S'
} as const

/** Largest JSON frame (header, event batch, blob metadata) a reader accepts. */
export const MAX_JSON_FRAME_BYTES = 16 * 1024 * 1024
/** Events per events frame (a batch is also closed past EVENT_FRAME_TARGET_BYTES). */
export const EVENTS_PER_FRAME = 500
export const EVENT_FRAME_TARGET_BYTES = 1024 * 1024
/** Ed25519 signature length. */
export const SIGNATURE_BYTES = 64
/** What the trailer signature signs: this prefix, then the 32-byte sha256 of every byte before the signature. */
export const SIGNATURE_DOMAIN = Buffer.from('ak-bundle-v1\u0000', 'utf8')
/** Read and write buffer size for bundle files. */
export const BUNDLE_IO_BUFFER = 1024 * 1024
