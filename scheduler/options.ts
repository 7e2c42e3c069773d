import type { ChunkSource, SourceFailure } from './types.ts'
import {
  BUSY_BACKOFF,
  CHUNK_TIMEOUT_FLOOR,
  MAX_BUSY_BACKOFF,
  MAX_CONSECUTIVE_BACKOFFS,
  MAX_READMIT_AFTER,
  READMIT_AFTER,
  DIRECTORY_POLL_INTERVAL,
  ENDGAME_CHUNKS,
  HAVE_POLL_INTERVAL,
  INITIAL_CHUNK_TIMEOUT,
  MAX_CONSECUTIVE_FAILURES,
  MAX_PIPELINE_DEPTH,
  MIN_PIPELINE_DEPTH,
  NO_SOURCE_TIMEOUT,
  SOURCE_QUERY_TIMEOUT,
} from './constants.ts'

/** Fine-tuning of downloads; tests shrink the timeouts. Every field is optional. */
export interface SchedulerTuning {
  /** @default MIN_PIPELINE_DEPTH */
  minDepth?: number
  /** @default MAX_PIPELINE_DEPTH */
  maxDepth?: number
  /** @default CHUNK_TIMEOUT_FLOOR (ms) */
  chunkTimeoutFloorMs?: number
  /** @default INITIAL_CHUNK_TIMEOUT (ms) */
  initialChunkTimeoutMs?: number
  /** @default HAVE_POLL_INTERVAL (ms) */
  havePollMs?: number
  /** @default DIRECTORY_POLL_INTERVAL (ms) */
  directoryPollMs?: number
  /** @default NO_SOURCE_TIMEOUT (ms) */
  noSourceTimeoutMs?: number
  /** @default SOURCE_QUERY_TIMEOUT (ms) */
  sourceQueryTimeoutMs?: number
  /** @default ENDGAME_CHUNKS */
  endgameChunks?: number
  /** @default MAX_CONSECUTIVE_FAILURES */
  maxConsecutiveFailures?: number
  /** @default BUSY_BACKOFF (ms) */
  busyBackoffMs?: number
  /** @default MAX_BUSY_BACKOFF (ms) */
  maxBusyBackoffMs?: number
  /** @default MAX_CONSECUTIVE_BACKOFFS */
  maxConsecutiveBackoffs?: number
  /** @default READMIT_AFTER (ms) */
  readmitAfterMs?: number
  /** @default MAX_READMIT_AFTER (ms) */
  maxReadmitAfterMs?: number
}

export function resolveTuning(t: SchedulerTuning = {}): Required<SchedulerTuning> {
  return {
    minDepth: t.minDepth ?? MIN_PIPELINE_DEPTH,
    maxDepth: t.maxDepth ?? MAX_PIPELINE_DEPTH,
    chunkTimeoutFloorMs: t.chunkTimeoutFloorMs ?? CHUNK_TIMEOUT_FLOOR,
    initialChunkTimeoutMs: t.initialChunkTimeoutMs ?? INITIAL_CHUNK_TIMEOUT,
    havePollMs: t.havePollMs ?? HAVE_POLL_INTERVAL,
    directoryPollMs: t.directoryPollMs ?? DIRECTORY_POLL_INTERVAL,
    noSourceTimeoutMs: t.noSourceTimeoutMs ?? NO_SOURCE_TIMEOUT,
    sourceQueryTimeoutMs: t.sourceQueryTimeoutMs ?? SOURCE_QUERY_TIMEOUT,
    endgameChunks: t.endgameChunks ?? ENDGAME_CHUNKS,
    maxConsecutiveFailures: t.maxConsecutiveFailures ?? MAX_CONSECUTIVE_FAILURES,
    busyBackoffMs: t.busyBackoffMs ?? BUSY_BACKOFF,
    maxBusyBackoffMs: t.maxBusyBackoffMs ?? MAX_BUSY_BACKOFF,
    maxConsecutiveBackoffs: t.maxConsecutiveBackoffs ?? MAX_CONSECUTIVE_BACKOFFS,
    readmitAfterMs: t.readmitAfterMs ?? READMIT_AFTER,
    maxReadmitAfterMs: t.maxReadmitAfterMs ?? MAX_READMIT_AFTER,
  }
}

/** Where the scheduler logs (pino's shape; any method may be missing). */
export interface SchedulerLogger {
  info?(obj: object, msg: string): void
  warn?(obj: object, msg: string): void
  debug?(obj: object, msg: string): void
}

/** Counters the node turns into metrics (per source kind). */
export interface SchedulerObserver {
  /** A verified chunk of `bytes` arrived from the source. */
  chunkReceived?(source: ChunkSource, bytes: number): void
  /** A chunk request failed (not counted: requests cancelled because another source answered first). */
  chunkFailed?(source: ChunkSource, reason: SourceFailure): void
}

/** Source state in a transfer, as transfers() reports it. */
export interface TransferSource {
  id: string
  kind: ChunkSource['kind']
  peerId?: string
  bytes: number
  chunks: number
  failures: number
  state: 'active' | 'dropped' | 'done'
  /** Why the source was dropped. */
  reason?: SourceFailure
  /** Busy answers and timeouts that made the download pause this source (not failures). */
  backoffs?: number
  /** Times the source was taken back after being dropped. */
  readmitted?: number
  /** Measured rate in bytes per second (EWMA), when measured. */
  bytesPerSecond?: number
}

/** One download, active or recent. */
export interface Transfer {
  sha256: string
  /** Undefined until the manifest is known. */
  size?: number
  state: 'queued' | 'active' | 'committing' | 'done' | 'failed'
  /** 'in-order' while a client waits on the stream, else 'rarest-first'. */
  mode: 'in-order' | 'rarest-first'
  chunks: number
  chunksHave: number
  /** Chunks found verified on disk from an earlier run. */
  chunksResumed: number
  bytesHave: number
  /** Bytes fetched from sources in this run. */
  bytesFetched: number
  /** 0…1 */
  progress: number
  bytesPerSecond: number
  readers: number
  startedAt?: number
  finishedAt?: number
  error?: string
  sources: TransferSource[]
}
