/*
 * The contracts of the swarm (issue #5). scheduler/ declares them; mesh/ implements the remote
 * sources (libp2p '/ak/chunk/1.0.0', a peer's HTTP port), scheduler/ implements the local
 * holdings (complete blobs in the BlobStore, partial downloads on disk), node/ wires them.
 *
 * Chunks are the fixed CHUNK_SIZE (1 MiB) pieces of a blob; chunk i covers bytes
 * [i * CHUNK_SIZE, min((i + 1) * CHUNK_SIZE, size)). A blob's manifest is the list of its chunk
 * sha256 digests, in order (the `chunk_manifest` column: 32 raw bytes per chunk).
 */

/** A blob's chunk list. */
export interface ChunkManifest {
  /** sha256 (hex) of the whole blob. */
  sha256: string
  size: number
  /** Always CHUNK_SIZE today; carried so a mismatch is detected rather than assumed. */
  chunkSize: number
  /** sha256 (hex) of each chunk, in order. ceil(size / chunkSize) entries (0 for an empty blob). */
  chunks: string[]
}

/**
 * Which chunks of a blob a holder has: 'all' for a complete blob, else one bit per chunk
 * (bit i = byte i >> 3, mask 1 << (i & 7)), set when chunk i is held and verified.
 */
export type HaveMap = 'all' | Uint8Array

/** Why a source failed a request (feeds the peer's profile and penalties). */
export type SourceFailure = 'corrupt' | 'timeout' | 'refused' | 'gone' | 'error'

/** Anything that can hand over chunks of blobs. One instance per remote holder (and transport). */
export interface ChunkSource {
  /** Stable and unique among sources, e.g. `libp2p:<peerId>`, `http:<peerId>`. */
  readonly id: string
  readonly kind: 'libp2p' | 'http' | 'upstream'
  /** The mesh peer behind it (undefined for an upstream registry). */
  readonly peerId?: string
  /**
   * What the source holds of `sha256`: undefined when nothing. A partial holder answers its
   * current bitmap; callers re-ask (or subscribe) during a download, since it grows.
   */
  have(sha256: string, signal: AbortSignal): Promise<HaveMap | undefined>
  /** The blob's manifest as the source has it (never trusted before checked, see below). */
  manifest(sha256: string, signal: AbortSignal): Promise<ChunkManifest | undefined>
  /**
   * Bytes of chunk `index` (exactly the chunk's length). The caller verifies the chunk's sha256
   * against the trusted manifest; a source must not be trusted to have done so.
   * Rejects with a SourceError on failure.
   */
  fetchChunk(sha256: string, index: number, signal: AbortSignal): Promise<Uint8Array>
  /** Optional push of have-map growth while a download runs (partial holders feeding each other). */
  watchHave?(sha256: string, listener: (have: HaveMap) => void, signal: AbortSignal): void
}

/** A source's refusal or failure, with the reason the scheduler records. */
export class SourceError extends Error {
  override readonly name = 'SourceError'
  constructor(
    message: string,
    readonly reason: SourceFailure,
  ) {
    super(message)
  }
}

/** What this node itself holds, served to peers by mesh/ and filled by the scheduler. */
export interface LocalChunks {
  /** 'all' for a complete local blob, a bitmap for a partial download, undefined for nothing. */
  have(sha256: string): HaveMap | undefined
  /** The trusted manifest of a blob this node knows (complete, partial, or known from a signed event). */
  manifest(sha256: string): ChunkManifest | undefined
  /** Bytes of a chunk this node holds (verified); undefined when it does not hold it. */
  readChunk(sha256: string, index: number): Promise<Uint8Array | undefined>
  /** Called with (sha256, have) whenever a partial download verifies another chunk or a blob completes. */
  onHaveChange(listener: (sha256: string, have: HaveMap) => void): () => void
}

/** Finds the sources that may hold a blob (mesh provider records, have-summaries, connected peers). */
export interface SourceDirectory {
  sources(sha256: string, signal: AbortSignal): Promise<ChunkSource[]>
}

/** A source's measured quality, as the scheduler uses it to plan (from mesh peer profiles). */
export interface SourceEstimate {
  /** Round-trip time in ms (EWMA), undefined when never measured. */
  rttMs?: number
  /** Sustained throughput in bytes per second (EWMA of real transfers), undefined when unknown. */
  bytesPerSecond?: number
  /** Transfers the source is serving right now, as it advertised. */
  load?: number
}

/** Where the scheduler reads estimates and reports what it observed (node wires mesh profiles here). */
export interface SourceFeedback {
  estimate(source: ChunkSource): SourceEstimate
  /** A chunk of `bytes` arrived from the source in `ms` (after its request was sent). */
  transferred(source: ChunkSource, bytes: number, ms: number): void
  /** The source failed; 'corrupt' also penalises the peer. */
  failed(source: ChunkSource, reason: SourceFailure): void
}
