/*
 * One blob's download: finds its sources, plans chunk requests across them, verifies every
 * chunk against the manifest, writes it into the partial file, hashes the in-order prefix and
 * commits the finished file into the blob store. The Scheduler owns single-flight and queueing.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import {
  chunkCount,
  CHUNK_DIGEST_BYTES,
  CHUNK_SIZE,
  createParallelHasher,
  DigestMismatchError,
  ShuttingDownError,
  StorageError,
  type BlobDigests,
  type BlobIndex,
  type BlobRecord,
  type BlobStore,
  type ByteRange,
  type Db,
  type ParallelBlobHasher,
} from '../store/index.ts'
import { haveHas, hasBit } from './bitmap.ts'
import { RATE_EWMA_ALPHA, RECENT_CHUNKS } from './constants.ts'
import type { SchedulerLogger, SchedulerObserver, SchedulerTuning, Transfer, TransferSource } from './options.ts'
import { chunkBounds, PartialFile, readPersistedManifest } from './partial.ts'
import { chunkTimeoutMs, pickChunk, pipelineDepth } from './plan.ts'
import { PartialReader, type ReadableDownload } from './reader.ts'
import type { TokenBucket } from './token-bucket.ts'
import { SourceError, type ChunkManifest, type ChunkSource, type HaveMap, type SourceDirectory, type SourceFailure, type SourceFeedback } from './types.ts'

export interface DownloadComponents {
  blobs: BlobStore
  blobIndex: BlobIndex
  db: Db
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

/** The manifest in a blob row, when the row carries a complete one (it came in a signed event). */
export function trustedManifest(row: BlobRecord | undefined): ChunkManifest | undefined {
  if (!row) return undefined
  const n = chunkCount(row.size)
  if (row.chunkManifest.length !== n * CHUNK_DIGEST_BYTES) return undefined
  const chunks: string[] = []
  for (let i = 0; i < n; i++) chunks.push(row.chunkManifest.subarray(i * CHUNK_DIGEST_BYTES, (i + 1) * CHUNK_DIGEST_BYTES).toString('hex'))
  return { sha256: row.sha256, size: row.size, chunkSize: CHUNK_SIZE, chunks }
}

function validManifest(m: ChunkManifest | undefined, sha256: string, size: number | undefined): m is ChunkManifest {
  return (
    m !== undefined &&
    m.sha256 === sha256 &&
    Number.isSafeInteger(m.size) &&
    m.size >= 0 &&
    (size === undefined || m.size === size) &&
    m.chunkSize === CHUNK_SIZE &&
    Array.isArray(m.chunks) &&
    m.chunks.length === chunkCount(m.size) &&
    m.chunks.every((c) => typeof c === 'string' && /^[a-f0-9]{64}$/.test(c))
  )
}

/** Resolves with `promise`, or rejects as soon as `signal` aborts (a source that ignores its signal cannot hang us). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
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
const CANCELLED = new Error('cancelled: another source delivered the chunk')

class SourceState {
  have: HaveMap | undefined
  state: 'active' | 'dropped' | 'done' = 'active'
  reason: SourceFailure | undefined
  inflight = 0
  queuedBytes = 0
  bytes = 0
  chunks = 0
  failures = 0
  consecutiveFailures = 0
  /** Busy answers and timeouts in a row (no chunk delivered since). */
  consecutiveBackoffs = 0
  backoffs = 0
  /** No new request to this source before this (ms since epoch): it answered busy or timed out. */
  backoffUntil = 0
  /** Times dropped (not for corruption); a dropped source is taken back at readmitAt. */
  drops = 0
  readmitAt = 0
  readmitted = 0
  rate: number | undefined
  lastDoneAt = 0
  readonly asked = new Set<number>()
  /** Where this source's rarest-first scan starts, so equal choices spread over sources. */
  readonly offset: number
  polling = false

  constructor(
    readonly source: ChunkSource,
    salt: Uint8Array,
  ) {
    // Salted per download: with the source id alone, every node fetching a blob from the same
    // origin scanned from the same chunk, so they all asked it for the same chunks in the same
    // order and had nothing to give each other (the swarm degenerated to N pulls from the origin).
    this.offset = createHash('sha256').update(source.id).update(salt).digest().readUInt32BE(0)
  }
}

interface ChunkRequest {
  source: SourceState
  index: number
  controller: AbortController
  cancelled: boolean
}

interface Waiter {
  chunk: number
  resolve(end: number): void
  reject(err: unknown): void
}

export class Download implements ReadableDownload {
  state: Transfer['state'] = 'queued'
  /** A client waits on this download (it goes ahead of eager fetches in the queue). */
  wanted = false
  readonly ready: Promise<void>
  readonly done: Promise<void>
  startedAt: number | undefined
  finishedAt: number | undefined
  error: Error | undefined

  private readyResolve!: () => void
  private readyReject!: (err: unknown) => void
  private doneResolve!: () => void
  private doneReject!: (err: unknown) => void
  private readonly abort = new AbortController()
  private readonly sources = new Map<string, SourceState>()
  private readonly requests = new Map<number, Set<ChunkRequest>>()
  private requestCount = 0
  private readonly writing = new Set<number>()
  private readonly writes = new Set<Promise<void>>()
  private availability = new Uint16Array(0)
  private manifest: ChunkManifest | undefined
  private manifestSource: SourceState | undefined
  private trusted = false
  private partial: PartialFile | undefined
  private resumed = 0
  /** Resumed chunks the in-order pass has not re-verified yet (not served to readers before). */
  private readonly unverified = new Set<number>()
  private hashCursor = 0
  private fresh: { index: number; bytes: Uint8Array } | undefined
  private sha256Hash: Hash | undefined
  private fullHasher: ParallelBlobHasher | undefined
  private hashRunning = false
  private hashAgain = false
  private readonly readers = new Map<object, number>()
  /** Chunks verified ahead of (or at) a waiting reader, kept so the stream need not read them back from disk. */
  private readonly recent = new Map<number, Uint8Array>()
  private readonly waiters = new Set<Waiter>()
  private openingReaders = 0
  private readersOpenedResolve: (() => void) | undefined
  private wakeResolve: (() => void) | undefined
  private woken = false
  private fatal: Error | undefined
  private fetched = 0
  private directoryBusy = false
  /** Spreads this node's rarest-first scans away from other nodes' scans of the same sources. */
  private readonly offsetSalt = randomBytes(8)

  constructor(
    readonly sha256: string,
    private readonly row: BlobRecord | undefined,
    private readonly c: DownloadComponents,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.readyResolve = resolve
      this.readyReject = reject
    })
    this.done = new Promise((resolve, reject) => {
      this.doneResolve = resolve
      this.doneReject = reject
    })
    this.ready.catch(() => {})
    this.done.catch(() => {})
  }

  /** Stops the download (scheduler closing); the partial file stays for a later resume. */
  stop(reason: Error = new ShuttingDownError('the node is shutting down')): void {
    if (!this.abort.signal.aborted) this.abort.abort(reason)
    this.wake()
  }

  /** Fails a download that never started (queued when the scheduler closed). */
  cancel(err: Error): void {
    this.state = 'failed'
    this.error = err
    this.finishedAt = Date.now()
    this.readyReject(err)
    this.doneReject(err)
  }

  // ---- streaming readers -------------------------------------------------------------------

  /** A stream of the blob (or `range` of it) that yields bytes as the chunks holding them verify. */
  async createReader(range: ByteRange | undefined, signal?: AbortSignal): Promise<Readable> {
    await this.ready
    const size = (this.manifest as ChunkManifest).size
    const start = range?.start ?? 0
    const end = Math.min(range?.end ?? size - 1, size - 1)
    if (this.state === 'committing' || this.state === 'done') {
      await this.done
      return this.c.blobs.open(this.sha256, range)
    }
    if (this.error) throw this.error
    // The plan turns in-order at once (before the descriptor opens): the client waits from here.
    const intent = {}
    this.readers.set(intent, Math.floor(start / CHUNK_SIZE))
    this.wake()
    this.openingReaders++
    let fd
    try {
      fd = await open((this.partial as PartialFile).paths.part, 'r')
    } finally {
      this.readers.delete(intent)
      if (--this.openingReaders === 0) this.readersOpenedResolve?.()
    }
    const reader = new PartialReader(fd, this, start, end, signal)
    this.readers.set(reader, Math.floor(start / CHUNK_SIZE))
    // Resolve only once the first byte can flow: a download that fails before (no source has
    // the blob) then fails the open, and the client gets an error status rather than a cut body.
    if (start <= end) {
      try {
        await this.available(start, reader, signal ?? new AbortController().signal)
      } catch (err) {
        reader.destroy()
        throw err
      }
    }
    return reader
  }

  available(position: number, reader: object, signal: AbortSignal): Promise<number> {
    const chunk = Math.floor(position / CHUNK_SIZE)
    if (this.readers.has(reader)) {
      const before = this.readers.get(reader)
      this.readers.set(reader, chunk)
      if (before !== chunk) this.trimRecent()
    }
    if (this.usable(chunk)) return Promise.resolve(this.runEnd(chunk))
    if (this.error) return Promise.reject(this.error)
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = {
        chunk,
        resolve: (end) => {
          signal.removeEventListener('abort', onAbort)
          resolve(end)
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort)
          reject(err)
        },
      }
      const onAbort = () => {
        this.waiters.delete(waiter)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.add(waiter)
      this.wake()
    })
  }

  detach(reader: object): void {
    this.readers.delete(reader)
    this.trimRecent()
  }

  /** A verified chunk still in memory (streamed from here instead of the partial file). */
  cachedChunk(index: number): Uint8Array | undefined {
    return this.usable(index) ? this.recent.get(index) : undefined
  }

  /** Keeps only chunks at or after the slowest reader's position, at most RECENT_CHUNKS of them. */
  private trimRecent(): void {
    if (this.recent.size === 0) return
    let from = Infinity
    for (const chunk of this.readers.values()) from = Math.min(from, chunk)
    for (const i of this.recent.keys()) if (i < from) this.recent.delete(i)
    while (this.recent.size > RECENT_CHUNKS) {
      let last = -1
      for (const i of this.recent.keys()) last = Math.max(last, i)
      this.recent.delete(last)
    }
  }

  private usable(chunk: number): boolean {
    return this.partial !== undefined && this.partial.has(chunk) && !this.unverified.has(chunk)
  }

  /** End (exclusive byte offset) of the run of usable chunks starting at `chunk`. */
  private runEnd(chunk: number): number {
    const m = this.manifest as ChunkManifest
    let j = chunk
    while (j < m.chunks.length && this.usable(j)) j++
    return Math.min(m.size, j * CHUNK_SIZE)
  }

  private settleWaiters(): void {
    for (const w of this.waiters) {
      if (this.error) w.reject(this.error)
      else if (this.usable(w.chunk)) w.resolve(this.runEnd(w.chunk))
      else continue
      this.waiters.delete(w)
    }
  }

  // ---- the run -----------------------------------------------------------------------------

  async run(): Promise<void> {
    this.state = 'active'
    this.startedAt = Date.now()
    let committed = false
    let discard = false
    try {
      await this.refreshDirectory()
      await this.resolveManifest()
      const m = this.manifest as ChunkManifest
      this.partial = await PartialFile.open(this.c.partialDir, m)
      this.availability = new Uint16Array(m.chunks.length)
      this.recomputeAvailability()
      for (let i = 0; i < m.chunks.length; i++) if (this.partial.has(i)) this.unverified.add(i)
      this.resumed = this.partial.verified
      if (this.resumed > 0) this.c.logger.info?.({ sha256: this.sha256, chunks: this.resumed }, 'resuming a partial download')
      // A trusted manifest (a signed event's, or the local row's) with every chunk verified against
      // it determines the blob: no whole-blob hash (it re-read every out-of-order chunk from disk).
      // A row without a complete manifest hashes the sha256; a row-less blob computes every digest.
      if (!this.trusted) {
        if (this.row) this.sha256Hash = createHash('sha256')
        else this.fullHasher = createParallelHasher()
      }
      this.readyResolve()
      // Let callers waiting on `ready` register their readers before the first plan is made.
      await new Promise<void>((resolve) => setImmediate(resolve))
      this.kickHash()
      await this.loop()
      this.state = 'committing'
      await this.commit()
      committed = true
    } catch (err) {
      this.error = err as Error
      if (err instanceof DigestMismatchError) discard = true
      this.readyReject(err)
    }
    // Settle only after the partial file is flushed (or removed): a caller that saw the download
    // end may restart or resume it at once.
    if (!this.abort.signal.aborted) this.abort.abort(CANCELLED)
    this.fullHasher?.abort()
    await Promise.allSettled([...this.writes])
    if (this.partial && !committed) await (discard ? this.partial.discard() : this.partial.close()).catch(() => {})
    for (const s of this.sources.values()) if (s.state === 'active') s.state = 'done'
    this.recent.clear()
    this.finishedAt = Date.now()
    this.state = this.error ? 'failed' : 'done'
    this.settleWaiters()
    if (this.error) this.doneReject(this.error)
    else this.doneResolve()
  }

  private async loop(): Promise<void> {
    const t = this.c.tuning
    const m = this.manifest as ChunkManifest
    const partial = this.partial as PartialFile
    let lastPoll = Date.now()
    let lastDirectory = Date.now()
    let starvingSince: number | undefined
    while (!(partial.complete && this.hashCursor === m.chunks.length)) {
      if (this.abort.signal.aborted) throw this.abort.signal.reason
      if (this.fatal) throw this.fatal
      this.pump()
      const now = Date.now()
      if (!partial.complete && this.requestCount === 0 && this.writing.size === 0 && !this.anySourceUseful()) {
        starvingSince ??= now
        if (now - starvingSince > t.noSourceTimeoutMs) {
          throw new StorageError(`no source can provide blob ${this.sha256} (${partial.verified} of ${m.chunks.length} chunks held)`, {
            sha256: this.sha256,
            noSource: true,
          })
        }
      } else {
        starvingSince = undefined
      }
      await this.waitChange(starvingSince !== undefined ? Math.min(t.havePollMs, 250) : t.havePollMs)
      const later = Date.now()
      if (later - lastPoll >= t.havePollMs) {
        lastPoll = later
        this.readmit()
        this.pollHaves()
      }
      if (later - lastDirectory >= (starvingSince !== undefined ? t.havePollMs : t.directoryPollMs)) {
        lastDirectory = later
        void this.refreshDirectory()
      }
    }
  }

  private wake(): void {
    this.woken = true
    const r = this.wakeResolve
    this.wakeResolve = undefined
    r?.()
  }

  /** Waits for a change (or `ms`); a change signalled while nobody waited is not lost. */
  private waitChange(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false
      return Promise.resolve()
    }
    // One waiter at a time: the run loop (or, before it, the manifest search).
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        if (this.wakeResolve === done) this.wakeResolve = undefined
        this.woken = false
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wakeResolve = done
    })
  }

  // ---- sources -----------------------------------------------------------------------------

  private querySignal(): AbortSignal {
    return AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.c.tuning.sourceQueryTimeoutMs)])
  }

  /** Asks the directory for sources and learns what the new ones hold. */
  private async refreshDirectory(): Promise<void> {
    if (this.directoryBusy || this.abort.signal.aborted) return
    this.directoryBusy = true
    try {
      let found: ChunkSource[] = []
      try {
        found = await this.c.directory.sources(this.sha256, this.querySignal())
      } catch (err) {
        this.c.logger.debug?.({ err, sha256: this.sha256 }, 'source directory failed')
      }
      const added: SourceState[] = []
      for (const source of found) {
        if (this.sources.has(source.id)) continue
        const s = new SourceState(source, this.offsetSalt)
        this.sources.set(source.id, s)
        added.push(s)
        source.watchHave?.(
          this.sha256,
          (have) => {
            if (s.state !== 'active') return
            s.have = have
            this.recomputeAvailability()
            this.wake()
          },
          this.abort.signal,
        )
      }
      await Promise.all(added.map((s) => this.pollHave(s)))
    } finally {
      this.directoryBusy = false
    }
  }

  private pollHaves(): void {
    for (const s of this.sources.values()) if (s.state === 'active' && s.have !== 'all') void this.pollHave(s)
  }

  private async pollHave(s: SourceState): Promise<void> {
    if (s.polling) return
    s.polling = true
    try {
      const have = await raceAbort(s.source.have(this.sha256, this.querySignal()), this.querySignal())
      if (s.state !== 'active') return
      s.have = have
      this.recomputeAvailability()
      this.wake()
    } catch (err) {
      if (this.abort.signal.aborted) return
      this.sourceFailed(s, err instanceof SourceError ? err.reason : 'error', err)
    } finally {
      s.polling = false
    }
  }

  private recomputeAvailability(): void {
    const a = this.availability
    a.fill(0)
    for (const s of this.sources.values()) {
      if (s.state !== 'active' || s.have === undefined) continue
      if (s.have === 'all') {
        for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + 1
      } else {
        for (let i = 0; i < a.length; i++) if (hasBit(s.have, i)) a[i] = (a[i] as number) + 1
      }
    }
  }

  private anySourceUseful(): boolean {
    const partial = this.partial as PartialFile
    for (const s of this.sources.values()) {
      if (s.state !== 'active' || s.have === undefined) continue
      for (let i = 0; i < partial.chunks; i++) if (!partial.has(i) && haveHas(s.have, i)) return true
    }
    return false
  }

  /** The trusted manifest (blob row), a previous run's, or one a source offers (checked at the end). */
  private async resolveManifest(): Promise<void> {
    const trusted = trustedManifest(this.row)
    if (trusted) {
      this.manifest = trusted
      this.trusted = true
      return
    }
    const persisted = await readPersistedManifest(this.c.partialDir, this.sha256)
    if (validManifest(persisted, this.sha256, this.row?.size)) {
      this.manifest = persisted
      return
    }
    const deadline = Date.now() + this.c.tuning.noSourceTimeoutMs
    const asked = new Set<string>()
    for (;;) {
      if (this.abort.signal.aborted) throw this.abort.signal.reason
      const candidates = [...this.sources.values()].filter((s) => s.state === 'active' && !asked.has(s.source.id))
      // Holders first: a source that has the blob is likelier to know its manifest.
      candidates.sort((a, b) => Number(b.have !== undefined) - Number(a.have !== undefined))
      for (const s of candidates) {
        asked.add(s.source.id)
        try {
          const m = await raceAbort(s.source.manifest(this.sha256, this.querySignal()), this.querySignal())
          if (validManifest(m, this.sha256, this.row?.size)) {
            this.manifest = { sha256: m.sha256, size: m.size, chunkSize: m.chunkSize, chunks: [...m.chunks] }
            this.manifestSource = s
            return
          }
        } catch (err) {
          if (this.abort.signal.aborted) throw this.abort.signal.reason
          this.sourceFailed(s, err instanceof SourceError ? err.reason : 'error', err)
        }
      }
      if (Date.now() > deadline) throw new StorageError(`no source offers the manifest of blob ${this.sha256}`, { sha256: this.sha256, noSource: true })
      await this.waitChange(Math.min(this.c.tuning.havePollMs, 250))
      await this.refreshDirectory()
      // Sources may learn the blob later (a partial holder): ask everyone again next round.
      if ([...this.sources.values()].every((s) => asked.has(s.source.id))) asked.clear()
    }
  }

  private estimate(s: SourceState): { rate: number | undefined; rtt: number | undefined } {
    const e = this.c.feedback.estimate(s.source)
    return { rate: s.rate ?? e.bytesPerSecond, rtt: e.rttMs }
  }

  private drop(s: SourceState, reason: SourceFailure): void {
    if (s.state === 'dropped') return
    s.state = 'dropped'
    s.reason = reason
    s.drops++
    const t = this.c.tuning
    // Corrupt data is never taken back; any other drop (gone, errors, endless busy) is retried later.
    s.readmitAt = reason === 'corrupt' ? Infinity : Date.now() + Math.min(t.maxReadmitAfterMs, t.readmitAfterMs * 2 ** (s.drops - 1))
    this.c.logger.warn?.({ sha256: this.sha256, source: s.source.id, reason }, 'source dropped from a download')
    for (const set of this.requests.values()) {
      for (const r of set) {
        if (r.source === s) {
          r.cancelled = true
          r.controller.abort(CANCELLED)
        }
      }
    }
    this.recomputeAvailability()
    this.wake()
  }

  /**
   * A request to `s` failed. Busy answers ('refused') and timeouts are congestion, not faults: the
   * source is paused (exponential backoff) and asked again later; only a long run of them with
   * nothing delivered drops it. Corrupt data and a source that is gone drop it at once; other
   * errors after maxConsecutiveFailures in a row. A drop that is not for corruption is undone
   * after a backoff (readmit()).
   */
  private sourceFailed(s: SourceState, reason: SourceFailure, err: unknown): void {
    const t = this.c.tuning
    this.c.observer.chunkFailed?.(s.source, reason)
    this.c.logger.debug?.({ sha256: this.sha256, source: s.source.id, reason, err }, 'source request failed')
    if (reason === 'refused' || reason === 'timeout') {
      s.backoffs++
      s.consecutiveBackoffs++
      // Requests already in flight fail together when a source is congested: one pause for all.
      const now = Date.now()
      if (s.backoffUntil <= now) {
        const pause = Math.min(t.maxBusyBackoffMs, t.busyBackoffMs * 2 ** Math.min(20, s.consecutiveBackoffs - 1))
        s.backoffUntil = now + pause * (0.75 + Math.random() * 0.5)
        this.wakeAt(s.backoffUntil)
      }
      if (s.consecutiveBackoffs >= t.maxConsecutiveBackoffs) {
        s.failures++
        this.c.feedback.failed(s.source, reason)
        this.drop(s, reason)
      }
      return
    }
    s.failures++
    s.consecutiveFailures++
    this.c.feedback.failed(s.source, reason)
    if (reason === 'corrupt' || reason === 'gone' || s.consecutiveFailures >= t.maxConsecutiveFailures) this.drop(s, reason)
  }

  /** Takes back the sources dropped for failures whose readmission time has come (never corrupt ones). */
  private readmit(): void {
    const now = Date.now()
    for (const s of this.sources.values()) {
      if (s.state !== 'dropped' || s.reason === 'corrupt' || now < s.readmitAt) continue
      s.state = 'active'
      s.reason = undefined
      s.readmitted++
      s.consecutiveFailures = 0
      s.consecutiveBackoffs = 0
      s.backoffUntil = 0
      s.have = undefined
      this.c.logger.info?.({ sha256: this.sha256, source: s.source.id, drops: s.drops }, 'dropped source taken back into a download')
      void this.pollHave(s)
    }
  }

  private wakeAt(at: number): void {
    const timer = setTimeout(() => this.wake(), Math.max(0, at - Date.now()) + 1)
    timer.unref?.()
  }

  // ---- planning and requests ---------------------------------------------------------------

  private pump(): void {
    const partial = this.partial as PartialFile
    const n = partial.chunks
    if (partial.complete) return
    const missing = (i: number) => !partial.has(i) && !this.writing.has(i)
    const requests = (i: number) => this.requests.get(i)?.size ?? 0
    let left = 0
    let unrequested = 0
    for (let i = 0; i < n; i++) {
      if (!missing(i)) continue
      left++
      if (requests(i) === 0) unrequested++
    }
    const endgame = unrequested === 0 && left <= this.c.tuning.endgameChunks
    let wantFrom = n
    for (const chunk of this.readers.values()) wantFrom = Math.min(wantFrom, chunk)
    const inOrder = this.readers.size > 0
    const now = Date.now()
    // A peer reachable over HTTP that delivers needs no second transport to the same uplink: the
    // libp2p one costs this node two layers of stream encryption per byte (pnet and noise) and
    // its slower chunks hold the in-order stream. It still serves in endgame and as failover.
    const httpPeers = new Set<string>()
    for (const s of this.sources.values()) {
      if (s.source.kind === 'http' && s.state === 'active' && s.chunks > 0 && s.consecutiveBackoffs === 0 && s.source.peerId) httpPeers.add(s.source.peerId)
    }
    // Complete holders vs partial ones: a complete holder (the origin, typically, with every
    // downloader asking it) is spent on chunks no partial holder has; chunks a peer can give go
    // to peers, the complete holder getting at most one of those at a time when it has nothing else.
    let complete = 0
    let partialHolders = 0
    for (const s of this.sources.values()) {
      if (s.state !== 'active' || s.have === undefined) continue
      if (s.have === 'all') complete++
      else partialHolders++
    }
    const peersHave = (k: number) => (this.availability[k] ?? 0) > complete
    for (const s of this.sources.values()) {
      if (s.state !== 'active' || s.have === undefined || s.backoffUntil > now) continue
      if (!endgame && s.source.kind === 'libp2p' && s.source.peerId !== undefined && httpPeers.has(s.source.peerId)) continue
      const { rate, rtt } = this.estimate(s)
      const depth = pipelineDepth(rate, rtt, { min: this.c.tuning.minDepth, max: this.c.tuning.maxDepth })
      const bucket = this.c.sourceBucket(s.source.id)
      // A source (or the node) over its rate gets no more queued requests than the one it works
      // on: chunks waiting behind a token bucket would be locked to the slowest source.
      while (s.inflight < depth && (s.inflight === 0 || (bucket.available() >= CHUNK_SIZE && this.c.globalBucket.available() >= CHUNK_SIZE))) {
        const have = s.have
        const i = pickChunk({
          chunks: n,
          missing,
          requests,
          sourceHas: (k) => haveHas(have, k),
          askedOfSource: (k) => s.asked.has(k),
          availability: (k) => this.availability[k] ?? 0,
          inOrder,
          wantFrom: wantFrom >= n ? 0 : wantFrom,
          endgame,
          offset: s.offset % Math.max(1, n),
          ...(s.have === 'all' && partialHolders > 0 ? { scarce: { peersHave, mayShare: s.inflight === 0 } } : {}),
        })
        if (i < 0) break
        this.request(s, i)
      }
    }
  }

  private request(s: SourceState, index: number): void {
    const m = this.manifest as ChunkManifest
    const { start, end } = chunkBounds(m.size, index)
    const length = end - start
    const req: ChunkRequest = { source: s, index, controller: new AbortController(), cancelled: false }
    let set = this.requests.get(index)
    if (!set) this.requests.set(index, (set = new Set()))
    set.add(req)
    s.inflight++
    s.queuedBytes += length
    s.asked.add(index)
    this.requestCount++
    void this.runRequest(req, length).finally(() => {
      set.delete(req)
      if (set.size === 0) this.requests.delete(index)
      s.inflight--
      s.queuedBytes -= length
      s.asked.delete(index)
      this.requestCount--
      this.wake()
    })
  }

  private async runRequest(req: ChunkRequest, length: number): Promise<void> {
    const { source: s, index } = req
    const m = this.manifest as ChunkManifest
    const signal = AbortSignal.any([req.controller.signal, this.abort.signal])
    let timer: NodeJS.Timeout | undefined
    try {
      await this.c.globalBucket.take(length, signal)
      await this.c.sourceBucket(s.source.id).take(length, signal)
      const { rate, rtt } = this.estimate(s)
      const timeout = chunkTimeoutMs(rate, rtt, s.queuedBytes - length, length, {
        floorMs: this.c.tuning.chunkTimeoutFloorMs,
        initialMs: this.c.tuning.initialChunkTimeoutMs,
      })
      timer = setTimeout(() => req.controller.abort(new SourceError(`chunk ${index} took longer than ${timeout} ms`, 'timeout')), timeout)
      const sentAt = performance.now()
      const bytes = await raceAbort(s.source.fetchChunk(this.sha256, index, signal), signal)
      clearTimeout(timer)
      if (req.cancelled || this.abort.signal.aborted) return
      const partial = this.partial as PartialFile
      if (partial.has(index) || this.writing.has(index)) return // an endgame duplicate arriving late
      const digest = createHash('sha256').update(bytes).digest('hex')
      if (bytes.length !== length || digest !== m.chunks[index]) {
        this.c.logger.warn?.({ sha256: this.sha256, chunk: index, source: s.source.id, got: bytes.length, want: length }, 'a source sent a corrupt chunk')
        this.sourceFailed(s, 'corrupt', new SourceError(`chunk ${index} failed verification`, 'corrupt'))
        return
      }
      const now = performance.now()
      this.observeRate(s, length, now - Math.max(s.lastDoneAt, sentAt))
      s.lastDoneAt = now
      this.c.feedback.transferred(s.source, length, now - sentAt)
      this.c.observer.chunkReceived?.(s.source, length)
      s.bytes += length
      s.chunks++
      s.consecutiveFailures = 0
      s.consecutiveBackoffs = 0
      this.fetched += length
      for (const other of this.requests.get(index) ?? []) {
        if (other === req) continue
        other.cancelled = true
        other.controller.abort(CANCELLED)
      }
      this.writing.add(index)
      const write = partial.writeChunk(index, bytes)
      this.writes.add(write)
      try {
        await write
      } catch (err) {
        this.fatal ??= new StorageError(`cannot write the partial download of ${this.sha256}: ${(err as Error).message}`)
        return
      } finally {
        this.writes.delete(write)
        this.writing.delete(index)
      }
      if (index === this.hashCursor && (this.sha256Hash || this.fullHasher)) this.fresh = { index, bytes }
      if (this.readers.size > 0) {
        let from = Infinity
        for (const chunk of this.readers.values()) from = Math.min(from, chunk)
        if (index >= from) {
          this.recent.set(index, bytes)
          this.trimRecent()
        }
      }
      this.chunkVerified()
    } catch (err) {
      clearTimeout(timer)
      if (req.cancelled || this.abort.signal.aborted) return
      const reason = err instanceof SourceError ? err.reason : signal.reason instanceof SourceError ? signal.reason.reason : 'error'
      this.sourceFailed(s, reason, err)
    }
  }

  private observeRate(s: SourceState, bytes: number, ms: number): void {
    const sample = bytes / (Math.max(ms, 0.1) / 1000)
    s.rate = s.rate === undefined ? sample : RATE_EWMA_ALPHA * sample + (1 - RATE_EWMA_ALPHA) * s.rate
  }

  private chunkVerified(): void {
    this.settleWaiters()
    this.c.haveChanged(this.sha256, Uint8Array.from((this.partial as PartialFile).bitmap))
    this.kickHash()
    this.wake()
  }

  // ---- the in-order hash pass and the commit -----------------------------------------------

  private kickHash(): void {
    this.hashPass().catch((err: unknown) => {
      this.fatal ??= err as Error
      this.wake()
    })
  }

  /**
   * Hashes the verified prefix as it grows (the whole-blob sha256, and for a blob without a row
   * every digest), reading back chunks that arrived out of order. Resumed chunks are
   * re-verified here; one that fails is forgotten and fetched again.
   */
  private async hashPass(): Promise<void> {
    if (this.hashRunning) {
      this.hashAgain = true
      return
    }
    this.hashRunning = true
    const partial = this.partial as PartialFile
    const m = this.manifest as ChunkManifest
    try {
      do {
        this.hashAgain = false
        while (this.hashCursor < m.chunks.length && partial.has(this.hashCursor) && !this.abort.signal.aborted) {
          const i = this.hashCursor
          if (!this.sha256Hash && !this.fullHasher && !this.unverified.has(i)) {
            // Trusted manifest, chunk verified on arrival: nothing to read.
            if (this.fresh?.index === i) this.fresh = undefined
            this.hashCursor++
            continue
          }
          let bytes: Uint8Array
          if (this.fresh?.index === i) {
            bytes = this.fresh.bytes
            this.fresh = undefined
          } else {
            bytes = await partial.readChunk(i)
          }
          if (this.unverified.has(i)) {
            this.unverified.delete(i)
            if (createHash('sha256').update(bytes).digest('hex') !== m.chunks[i]) {
              this.c.logger.warn?.({ sha256: this.sha256, chunk: i }, 'a resumed chunk failed re-verification; fetching it again')
              partial.forget(i)
              break
            }
            this.settleWaiters()
          }
          this.sha256Hash?.update(bytes)
          if (this.fullHasher) await this.fullHasher.update(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
          this.hashCursor++
        }
      } while (this.hashAgain)
    } finally {
      this.hashRunning = false
      this.wake()
    }
  }

  private readersOpened(): Promise<void> {
    if (this.openingReaders === 0) return Promise.resolve()
    return new Promise((resolve) => (this.readersOpenedResolve = resolve))
  }

  private async commit(): Promise<void> {
    const m = this.manifest as ChunkManifest
    const partial = this.partial as PartialFile
    await this.readersOpened()
    let computed: BlobDigests | undefined
    let sha256: string
    if (this.fullHasher) {
      computed = await this.fullHasher.digest()
      sha256 = computed.sha256
    } else if (this.sha256Hash) {
      sha256 = this.sha256Hash.digest('hex')
    } else {
      // Trusted manifest: every chunk matched a digest list bound to this sha256.
      sha256 = this.sha256
    }
    if (sha256 !== this.sha256 || (computed && computed.size !== m.size)) {
      // Every chunk matched a manifest that does not describe the blob: the manifest lied.
      const blamed = this.manifestSource
      if (blamed) {
        blamed.failures++
        this.c.feedback.failed(blamed.source, 'corrupt')
        this.c.observer.chunkFailed?.(blamed.source, 'corrupt')
        this.drop(blamed, 'corrupt')
      }
      throw new DigestMismatchError(`the chunks assembled for ${this.sha256} hash to ${sha256}; discarded`, {
        expected: this.sha256,
        actual: sha256,
        manifestSource: blamed?.source.id,
      })
    }
    const manifestBytes = Buffer.from(m.chunks.join(''), 'hex')
    const row = this.row
    const digests: BlobDigests = row
      ? { sha256: row.sha256, size: row.size, sha1: row.sha1, md5: row.md5, sha512: row.sha512, chunkManifest: manifestBytes }
      : (computed as BlobDigests)
    await partial.close()
    await this.c.blobs.adopt(partial.paths.part, digests)
    const db = this.c.db
    db.transaction(() => {
      db.prepare('DELETE FROM remote_blobs WHERE sha256 = ?').run(this.sha256)
      // A row from an event that carried no manifest learns it now (the whole sha256 matched).
      if (row && !this.trusted) db.prepare('UPDATE blobs SET chunk_manifest = ? WHERE sha256 = ?').run(manifestBytes, this.sha256)
    })()
    await Promise.all([rm(partial.paths.have, { force: true }), rm(partial.paths.manifest, { force: true })])
    this.c.haveChanged(this.sha256, 'all')
  }

  // ---- introspection -----------------------------------------------------------------------

  /** The trusted (or, for a row-less blob, the working) manifest once known. */
  currentManifest(): ChunkManifest | undefined {
    return this.manifest
  }

  /** The have-bitmap of verified chunks (a copy), while the partial file exists. */
  haveBitmap(): Uint8Array | undefined {
    if (!this.partial || this.state === 'done' || this.state === 'failed') return undefined
    const bitmap = Uint8Array.from(this.partial.bitmap)
    for (const i of this.unverified) bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) & ~(1 << (i & 7))
    return bitmap
  }

  /** A verified chunk of the partial file, for peers (undefined when not held). */
  async readVerifiedChunk(index: number): Promise<Uint8Array | undefined> {
    if (!this.usable(index) || this.state === 'done' || this.state === 'failed') return undefined
    try {
      return await (this.partial as PartialFile).readChunk(index)
    } catch {
      return undefined
    }
  }

  info(): Transfer {
    const m = this.manifest
    const partial = this.partial
    const chunks = m?.chunks.length ?? 0
    const chunksHave = this.state === 'done' ? chunks : (partial?.verified ?? 0)
    const bytesHave = this.state === 'done' ? (m?.size ?? 0) : (partial?.bytesHeld() ?? 0)
    const elapsed = ((this.finishedAt ?? Date.now()) - (this.startedAt ?? Date.now())) / 1000
    const sources: TransferSource[] = [...this.sources.values()].map((s) => ({
      id: s.source.id,
      kind: s.source.kind,
      ...(s.source.peerId !== undefined ? { peerId: s.source.peerId } : {}),
      bytes: s.bytes,
      chunks: s.chunks,
      failures: s.failures,
      state: s.state,
      ...(s.backoffs > 0 ? { backoffs: s.backoffs } : {}),
      ...(s.readmitted > 0 ? { readmitted: s.readmitted } : {}),
      ...(s.reason ? { reason: s.reason } : {}),
      ...(s.rate !== undefined ? { bytesPerSecond: Math.round(s.rate) } : {}),
    }))
    return {
      sha256: this.sha256,
      ...(m ? { size: m.size } : {}),
      state: this.state,
      mode: this.readers.size > 0 ? 'in-order' : 'rarest-first',
      chunks,
      chunksHave,
      chunksResumed: this.resumed,
      bytesHave,
      bytesFetched: this.fetched,
      progress: chunks === 0 ? (this.state === 'done' ? 1 : 0) : chunksHave / chunks,
      bytesPerSecond: elapsed > 0 ? Math.round(this.fetched / elapsed) : 0,
      readers: this.readers.size,
      ...(this.startedAt !== undefined ? { startedAt: this.startedAt } : {}),
      ...(this.finishedAt !== undefined ? { finishedAt: this.finishedAt } : {}),
      ...(this.error ? { error: this.error.message } : {}),
      sources,
    }
  }
}
