/*
 * One blob's download: finds its sources, plans chunk requests across them, verifies every
 * chunk against the manifest, writes it into the partial file, hashes the in-order prefix and
 * commits the finished file into the blob store. The Scheduler owns single-flight and queueing.
 *
 * This file is the run: its states, its loop and its wake-ups. The parts, one job each:
 *   download-sources.ts   the source set (directory, have maps, backoff, drops, readmission)
 *   download-manifest.ts  the chunk manifest (trusted row, persisted, or offered by a source)
 *   download-pump.ts      the request pump (planning, pipelines, buckets, timeouts, chunk checks)
 *   download-readers.ts   readers streaming the verified prefix, and the chunks kept for them
 *   download-verify.ts    the in-order hash pass and the commit into the blob store
 *   download-info.ts      the transfer info of `ak transfers`
 */
import type { Readable } from 'node:stream'
import { CHUNK_SIZE, DigestMismatchError, ShuttingDownError, StorageError, type BlobRecord, type ByteRange } from '../store/index.ts'
import { CANCELLED, type DownloadComponents, type DownloadRun } from './download-context.ts'
import { transferInfo } from './download-info.ts'
import { resolveManifest } from './download-manifest.ts'
import { RequestPump } from './download-pump.ts'
import { ReaderSet } from './download-readers.ts'
import { SourceSet, type SourceState } from './download-sources.ts'
import { BlobVerifier } from './download-verify.ts'
import type { Transfer } from './options.ts'
import { PartialFile } from './partial.ts'
import type { ChunkManifest } from './types.ts'

export class Download {
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
  private readonly abort: AbortController
  private readonly ctx: DownloadRun
  private readonly sources: SourceSet
  private readonly readers: ReaderSet
  private readonly pump: RequestPump
  private readonly verifier: BlobVerifier
  private manifest: ChunkManifest | undefined
  private manifestSource: SourceState | undefined
  private trusted = false
  private partial: PartialFile | undefined
  private resumed = 0
  private wakeResolve: (() => void) | undefined
  private woken = false
  private fatal: Error | undefined

  constructor(
    readonly sha256: string,
    private readonly row: BlobRecord | undefined,
    private readonly c: DownloadComponents,
  ) {
    this.abort = new AbortController()
    this.ctx = { sha256, c, signal: this.abort.signal, wake: () => this.wake() }
    const fail = (err: Error) => {
      this.fatal ??= err
    }
    this.sources = new SourceSet(this.ctx, (s) => this.pump.cancelSource(s))
    this.readers = new ReaderSet(this.ctx, {
      usable: (i) => this.usable(i),
      runEnd: (i) => this.runEnd(i),
      failure: () => this.error,
    })
    this.pump = new RequestPump(this.ctx, this.sources, this.readers, { written: (i, bytes) => this.chunkWritten(i, bytes), fatal: fail })
    this.verifier = new BlobVerifier(this.ctx, row, this.sources, this.readers, fail)
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
    return this.readers.open((this.partial as PartialFile).paths.part, start, end, signal)
  }

  private usable(chunk: number): boolean {
    return this.partial !== undefined && this.partial.has(chunk) && !this.verifier.unverified.has(chunk)
  }

  /** End (exclusive byte offset) of the run of usable chunks starting at `chunk`. */
  private runEnd(chunk: number): number {
    const m = this.manifest as ChunkManifest
    let j = chunk
    while (j < m.chunks.length && this.usable(j)) j++
    return Math.min(m.size, j * CHUNK_SIZE)
  }

  // ---- the run -----------------------------------------------------------------------------

  async run(): Promise<void> {
    this.state = 'active'
    this.startedAt = Date.now()
    let committed = false
    let discard = false
    try {
      await this.sources.refreshDirectory()
      const resolved = await resolveManifest(this.ctx, this.row, this.sources, (ms) => this.waitChange(ms))
      this.manifest = resolved.manifest
      this.trusted = resolved.trusted
      this.manifestSource = resolved.source
      const m = resolved.manifest
      this.partial = await PartialFile.open(this.c.partialDir, m)
      this.sources.sizeTo(m.chunks.length)
      this.verifier.begin(m, this.partial, this.trusted)
      this.pump.begin(m, this.partial)
      this.resumed = this.partial.verified
      if (this.resumed > 0) this.c.logger.info?.({ sha256: this.sha256, chunks: this.resumed }, 'resuming a partial download')
      this.readyResolve()
      // Let callers waiting on `ready` register their readers before the first plan is made.
      await new Promise<void>((resolve) => setImmediate(resolve))
      this.verifier.kick()
      await this.loop()
      this.state = 'committing'
      await this.verifier.commit(this.manifestSource)
      committed = true
    } catch (err) {
      this.error = err as Error
      if (err instanceof DigestMismatchError) discard = true
      this.readyReject(err)
    }
    // Settle only after the partial file is flushed (or removed): a caller that saw the download
    // end may restart or resume it at once.
    if (!this.abort.signal.aborted) this.abort.abort(CANCELLED)
    this.verifier.abort()
    await this.pump.flushed()
    if (this.partial && !committed) await (discard ? this.partial.discard() : this.partial.close()).catch(() => {})
    this.sources.finish()
    this.readers.clear()
    this.finishedAt = Date.now()
    this.state = this.error ? 'failed' : 'done'
    this.readers.settle()
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
    while (!(partial.complete && this.verifier.finished)) {
      if (this.abort.signal.aborted) throw this.abort.signal.reason
      if (this.fatal) throw this.fatal
      this.pump.pump()
      const now = Date.now()
      if (!partial.complete && this.pump.count === 0 && this.pump.writing.size === 0 && !this.sources.anyUseful(partial)) {
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
        this.sources.readmit()
        this.sources.pollHaves()
      }
      if (later - lastDirectory >= (starvingSince !== undefined ? t.havePollMs : t.directoryPollMs)) {
        lastDirectory = later
        void this.sources.refreshDirectory()
      }
    }
  }

  /** A chunk arrived, matched the manifest and is in the partial file. */
  private chunkWritten(index: number, bytes: Uint8Array): void {
    this.verifier.offer(index, bytes)
    this.readers.offer(index, bytes)
    this.readers.settle()
    this.c.haveChanged(this.sha256, Uint8Array.from((this.partial as PartialFile).bitmap))
    this.verifier.kick()
    this.wake()
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

  // ---- introspection -----------------------------------------------------------------------

  /** The trusted (or, for a row-less blob, the working) manifest once known. */
  currentManifest(): ChunkManifest | undefined {
    return this.manifest
  }

  /** The have-bitmap of verified chunks (a copy), while the partial file exists. */
  haveBitmap(): Uint8Array | undefined {
    if (!this.partial || this.state === 'done' || this.state === 'failed') return undefined
    const bitmap = Uint8Array.from(this.partial.bitmap)
    for (const i of this.verifier.unverified) bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) & ~(1 << (i & 7))
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
    return transferInfo({
      sha256: this.sha256,
      state: this.state,
      manifest: this.manifest,
      partial: this.partial,
      sources: this.sources.values(),
      resumed: this.resumed,
      fetched: this.pump.fetched,
      readers: this.readers.size,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      error: this.error,
    })
  }
}
