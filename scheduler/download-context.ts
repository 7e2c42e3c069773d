/*
 * What the parts of one download (download.ts and its download-*.ts parts) share: the
 * scheduler's components, the download's identity, abort signal and wake-up call.
 */
import type { BlobIndex, BlobStore, RemoteBlobs } from '../store/index.ts'
import type { SchedulerLogger, SchedulerObserver, SchedulerTuning } from './options.ts'
import type { TokenBucket } from './token-bucket.ts'
import type { HaveMap, SourceDirectory, SourceFeedback } from './types.ts'

export interface DownloadComponents {
  blobs: BlobStore
  blobIndex: BlobIndex
  remoteBlobs: RemoteBlobs
  partialDir: string
  directory: SourceDirectory
  feedback: SourceFeedback
  globalBucket: TokenBucket
  sourceBucket(sourceId: string): TokenBucket
  tuning: Required<SchedulerTuning>
  logger: SchedulerLogger
  observer: SchedulerObserver
  haveChanged(sha256: string, have: HaveMap): void
}

/** One download as its parts see it. */
export interface DownloadRun {
  readonly sha256: string
  readonly c: DownloadComponents
  /** Aborts when the download stops or ends. */
  readonly signal: AbortSignal
  /** Something changed: the run loop (or the manifest search) looks again now. */
  wake(): void
}

/** Resolves with `promise`, or rejects as soon as `signal` aborts (a source that ignores its signal cannot hang us). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/** Marks a request aborted because another source delivered its chunk first (not a failure). */
export const CANCELLED = new Error('cancelled: another source delivered the chunk')
