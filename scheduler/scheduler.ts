import type { Readable } from 'node:stream'
import {
  RangeNotSatisfiableError,
  ShuttingDownError,
  type BlobIndex,
  type BlobStore,
  type ByteRange,
  type RemoteBlobs,
} from '../store/index.ts'
import { DEFAULT_MAX_CONCURRENT_DOWNLOADS, RECENT_TRANSFERS } from './constants.ts'
import type { DownloadComponents } from './download-context.ts'
import { trustedManifest } from './download-manifest.ts'
import { Download } from './download.ts'
import { resolveTuning, type SchedulerLogger, type SchedulerObserver, type SchedulerTuning, type Transfer } from './options.ts'
import { chunkBounds } from './partial.ts'
import { createTokenBucket, type TokenBucket } from './token-bucket.ts'
import type { ChunkManifest, HaveMap, LocalChunks, SourceDirectory, SourceEstimate, SourceFeedback } from './types.ts'

export interface SchedulerLimits {
  /** Downloads running at once; more wait in a queue. @default DEFAULT_MAX_CONCURRENT_DOWNLOADS */
  maxConcurrentDownloads?: number
  /** All downloads together, bytes per second; 0 = unlimited. @default 0 */
  globalBytesPerSecond?: number
  /** From any one source, bytes per second; 0 = unlimited. @default 0 */
  perSourceBytesPerSecond?: number
}

export interface SchedulerInit {
  blobs: BlobStore
  blobIndex: BlobIndex
  /** Blobs known here without their bytes (forgotten as remote when a download commits). */
  remoteBlobs: RemoteBlobs
  /** Where partial downloads live; survives restarts (not the temp dir, which is wiped). */
  partialDir: string
  directory: SourceDirectory
  /** Estimates and observations of sources; no-op when omitted. */
  feedback?: SourceFeedback
  limits?: SchedulerLimits
  tuning?: SchedulerTuning
  logger?: SchedulerLogger
  observer?: SchedulerObserver
}

/** Gets blobs this node lacks from the sources the directory names. */
export interface Scheduler {
  /**
   * The blob's bytes (or an inclusive range). Held blobs stream from the store; missing ones are
   * downloaded (one download per digest however many callers) and stream as they verify.
   * Rejects when no source can give the first requested byte.
   */
  open(sha256: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable>
  /** Downloads and commits the blob with no reader (eager replication). */
  fetch(sha256: string, signal?: AbortSignal): Promise<void>
  /** Active, queued and recent (last RECENT_TRANSFERS) downloads, newest first. */
  transfers(): Transfer[]
  /** What this node holds (complete blobs and partial downloads), for serving peers. */
  readonly local: LocalChunks
  /** Stops every download (their partial files stay for the next start). */
  close(): Promise<void>
}

const NO_FEEDBACK: SourceFeedback = {
  estimate: (): SourceEstimate => ({}),
  transferred: () => {},
  failed: () => {},
}

export function createScheduler(init: SchedulerInit): Scheduler {
  return new DefaultScheduler(init)
}

class DefaultScheduler implements Scheduler {
  readonly local: LocalChunks
  private readonly active = new Map<string, Download>()
  private readonly queue: Download[] = []
  /** Call order of fetch()/open(): the queue keeps it even when their stat() calls finish out of order. */
  private calls = 0
  private readonly order = new WeakMap<Download, number>()
  private readonly recent: Download[] = []
  private running = 0
  private closed = false
  private readonly maxConcurrent: number
  private readonly globalBucket: TokenBucket
  private readonly sourceBuckets = new Map<string, TokenBucket>()
  private readonly listeners = new Set<(sha256: string, have: HaveMap) => void>()
  private readonly components: DownloadComponents
  private readonly isRemote: (sha256: string) => boolean
  /** Blobs committed here without a blob row (nothing else says they are held). */
  private readonly committedRowless = new Set<string>()

  constructor(private readonly init: SchedulerInit) {
    const limits = init.limits ?? {}
    this.maxConcurrent = Math.max(1, limits.maxConcurrentDownloads || DEFAULT_MAX_CONCURRENT_DOWNLOADS)
    this.globalBucket = createTokenBucket(limits.globalBytesPerSecond ?? 0)
    const perSource = limits.perSourceBytesPerSecond ?? 0
    this.isRemote = (sha256) => init.remoteBlobs.has(sha256)
    this.components = {
      blobs: init.blobs,
      blobIndex: init.blobIndex,
      remoteBlobs: init.remoteBlobs,
      partialDir: init.partialDir,
      directory: init.directory,
      feedback: init.feedback ?? NO_FEEDBACK,
      globalBucket: this.globalBucket,
      sourceBucket: (id) => {
        let b = this.sourceBuckets.get(id)
        if (!b) this.sourceBuckets.set(id, (b = createTokenBucket(perSource)))
        return b
      },
      tuning: resolveTuning(init.tuning),
      logger: init.logger ?? {},
      observer: init.observer ?? {},
      haveChanged: (sha256, have) => {
        for (const l of this.listeners) {
          try {
            l(sha256, have)
          } catch {
            // a listener's failure is its own
          }
        }
      },
    }
    this.local = this.localChunks()
  }

  async open(sha256: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const call = this.calls++
    let download = this.active.get(sha256)
    if (!download) {
      if (await this.init.blobs.stat(sha256)) return this.init.blobs.open(sha256, range)
      download = this.download(sha256, call)
    }
    download.wanted = true
    this.startQueued()
    await download.ready
    const size = download.currentManifest()?.size ?? 0
    if (range && (range.start >= size || range.end < range.start)) {
      throw new RangeNotSatisfiableError(`range ${range.start}-${range.end} is outside the ${size} bytes`, { size })
    }
    return download.createReader(range, signal)
  }

  async fetch(sha256: string, signal?: AbortSignal): Promise<void> {
    const call = this.calls++
    let download = this.active.get(sha256)
    if (!download) {
      if (await this.init.blobs.stat(sha256)) return
      download = this.download(sha256, call)
    }
    if (!signal) return download.done
    signal.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      ;(download as Download).done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
    })
  }

  transfers(): Transfer[] {
    const all = [...this.active.values(), ...this.recent].map((d) => d.info())
    return all.sort((a, b) => (b.startedAt ?? Infinity) - (a.startedAt ?? Infinity))
  }

  async close(): Promise<void> {
    this.closed = true
    const running = [...this.active.values()]
    for (const d of this.queue.splice(0)) {
      this.active.delete(d.sha256)
      d.cancel(new ShuttingDownError('the node is shutting down'))
    }
    for (const d of running) d.stop()
    await Promise.allSettled(running.map((d) => d.done))
  }

  /** The single-flight entry: the digest's download, created and queued when none runs. */
  private download(sha256: string, call: number): Download {
    if (this.closed) throw new ShuttingDownError('the node is shutting down')
    const existing = this.active.get(sha256)
    if (existing) return existing
    const d = new Download(sha256, this.init.blobIndex.get(sha256), this.components)
    this.active.set(sha256, d)
    this.order.set(d, call)
    const later = this.queue.findIndex((q) => (this.order.get(q) ?? 0) > call)
    this.queue.splice(later < 0 ? this.queue.length : later, 0, d)
    // Starting waits a tick, so an open() right after a fetch() marks the download wanted first.
    queueMicrotask(() => this.startQueued())
    return d
  }

  private startQueued(): void {
    while (this.running < this.maxConcurrent && this.queue.length > 0 && !this.closed) {
      // Downloads a client waits on go first; among equals, the oldest.
      const k = Math.max(0, this.queue.findIndex((d) => d.wanted))
      const d = this.queue.splice(k, 1)[0] as Download
      this.running++
      void d.run().finally(() => {
        this.running--
        this.active.delete(d.sha256)
        if (d.state === 'done' && !this.init.blobIndex.get(d.sha256)) this.committedRowless.add(d.sha256)
        this.recent.unshift(d)
        this.recent.length = Math.min(this.recent.length, RECENT_TRANSFERS)
        this.startQueued()
      })
    }
  }

  private localChunks(): LocalChunks {
    const held = (sha256: string): boolean => {
      if (this.committedRowless.has(sha256)) return true
      const d = this.active.get(sha256)
      if (d && d.state !== 'done') return false
      return this.init.blobIndex.get(sha256) !== undefined && !this.isRemote(sha256)
    }
    return {
      have: (sha256) => {
        if (held(sha256)) return 'all'
        const bitmap = this.active.get(sha256)?.haveBitmap()
        return bitmap && bitmap.some((b) => b !== 0) ? bitmap : undefined
      },
      manifest: (sha256): ChunkManifest | undefined => {
        const d = this.active.get(sha256)
        return trustedManifest(this.init.blobIndex.get(sha256)) ?? d?.currentManifest()
      },
      readChunk: async (sha256, index) => {
        const d = this.active.get(sha256)
        if (d && d.state !== 'done') {
          const bytes = await d.readVerifiedChunk(index)
          if (bytes) return bytes
        }
        if (!held(sha256)) return undefined
        const stat = await this.init.blobs.stat(sha256)
        if (!stat) return undefined
        const { start, end } = chunkBounds(stat.size, index)
        if (index < 0 || start >= stat.size) return undefined
        const parts: Buffer[] = []
        for await (const part of await this.init.blobs.open(sha256, { start, end: end - 1 })) parts.push(part as Buffer)
        return Buffer.concat(parts, end - start)
      },
      onHaveChange: (listener) => {
        this.listeners.add(listener)
        return () => this.listeners.delete(listener)
      },
    }
  }
}
