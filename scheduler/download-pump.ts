/*
 * The request pump of one download: which chunk to ask of which source next (rarest-first, or
 * in order while a client waits; endgame duplicates; complete holders spared for what no partial
 * holder has), how deep each source's pipeline is, the token buckets and timeouts of each
 * request, and each arriving chunk checked against the manifest before it is written.
 */
import { createHash } from 'node:crypto'
import { CHUNK_SIZE, StorageError } from '../store/index.ts'
import { haveHas } from './bitmap.ts'
import { RATE_EWMA_ALPHA } from './constants.ts'
import { CANCELLED, raceAbort, type DownloadRun } from './download-context.ts'
import type { ReaderSet } from './download-readers.ts'
import type { SourceSet, SourceState } from './download-sources.ts'
import { chunkBounds, type PartialFile } from './partial.ts'
import { chunkTimeoutMs, pickChunk, pipelineDepth } from './plan.ts'
import { SourceError, type ChunkManifest } from './types.ts'

interface ChunkRequest {
  source: SourceState
  index: number
  controller: AbortController
  cancelled: boolean
}

/** What the pump tells the download. */
export interface PumpHooks {
  /** Chunk `index` arrived, matched the manifest and is written to the partial file. */
  written(index: number, bytes: Uint8Array): void
  /** The partial file cannot be written: the download fails. */
  fatal(err: Error): void
}

export class RequestPump {
  private readonly requests = new Map<number, Set<ChunkRequest>>()
  /** Requests in flight. */
  count = 0
  /** Chunks being written to the partial file. */
  readonly writing = new Set<number>()
  private readonly writes = new Set<Promise<void>>()
  /** Bytes fetched from sources (verified). */
  fetched = 0
  private manifest: ChunkManifest | undefined
  private partial: PartialFile | undefined

  constructor(
    private readonly run: DownloadRun,
    private readonly sources: SourceSet,
    private readonly readers: ReaderSet,
    private readonly hooks: PumpHooks,
  ) {}

  /** The manifest and the partial file are known: requests may start. */
  begin(manifest: ChunkManifest, partial: PartialFile): void {
    this.manifest = manifest
    this.partial = partial
  }

  /** Cancels the requests to `s` in flight (it was dropped). */
  cancelSource(s: SourceState): void {
    for (const set of this.requests.values()) {
      for (const r of set) {
        if (r.source === s) {
          r.cancelled = true
          r.controller.abort(CANCELLED)
        }
      }
    }
  }

  /** Settles once every write to the partial file has (before it is closed or removed). */
  async flushed(): Promise<void> {
    await Promise.allSettled([...this.writes])
  }

  /** Sends each usable source as many requests as its pipeline depth and the rate limits allow. */
  pump(): void {
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
    const t = this.run.c.tuning
    const endgame = unrequested === 0 && left <= t.endgameChunks
    const wantFrom = Math.min(n, this.readers.lowest())
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
    const availability = this.sources.availability
    const peersHave = (k: number) => (availability[k] ?? 0) > complete
    for (const s of this.sources.values()) {
      if (s.state !== 'active' || s.have === undefined || s.backoffUntil > now) continue
      if (!endgame && s.source.kind === 'libp2p' && s.source.peerId !== undefined && httpPeers.has(s.source.peerId)) continue
      const { rate, rtt } = this.sources.estimate(s)
      const depth = pipelineDepth(rate, rtt, { min: t.minDepth, max: t.maxDepth })
      const bucket = this.run.c.sourceBucket(s.source.id)
      // A source (or the node) over its rate gets no more queued requests than the one it works
      // on: chunks waiting behind a token bucket would be locked to the slowest source.
      while (s.inflight < depth && (s.inflight === 0 || (bucket.available() >= CHUNK_SIZE && this.run.c.globalBucket.available() >= CHUNK_SIZE))) {
        const have = s.have
        const i = pickChunk({
          chunks: n,
          missing,
          requests,
          sourceHas: (k) => haveHas(have, k),
          askedOfSource: (k) => s.asked.has(k),
          availability: (k) => availability[k] ?? 0,
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
    this.count++
    void this.runRequest(req, length).finally(() => {
      set.delete(req)
      if (set.size === 0) this.requests.delete(index)
      s.inflight--
      s.queuedBytes -= length
      s.asked.delete(index)
      this.count--
      this.run.wake()
    })
  }

  private async runRequest(req: ChunkRequest, length: number): Promise<void> {
    const { source: s, index } = req
    const c = this.run.c
    const sha256 = this.run.sha256
    const m = this.manifest as ChunkManifest
    const signal = AbortSignal.any([req.controller.signal, this.run.signal])
    let timer: NodeJS.Timeout | undefined
    try {
      await c.globalBucket.take(length, signal)
      await c.sourceBucket(s.source.id).take(length, signal)
      const { rate, rtt } = this.sources.estimate(s)
      const timeout = chunkTimeoutMs(rate, rtt, s.queuedBytes - length, length, {
        floorMs: c.tuning.chunkTimeoutFloorMs,
        initialMs: c.tuning.initialChunkTimeoutMs,
      })
      timer = setTimeout(() => req.controller.abort(new SourceError(`chunk ${index} took longer than ${timeout} ms`, 'timeout')), timeout)
      const sentAt = performance.now()
      const bytes = await raceAbort(s.source.fetchChunk(sha256, index, signal), signal)
      clearTimeout(timer)
      if (req.cancelled || this.run.signal.aborted) return
      const partial = this.partial as PartialFile
      if (partial.has(index) || this.writing.has(index)) return // an endgame duplicate arriving late
      const digest = createHash('sha256').update(bytes).digest('hex')
      if (bytes.length !== length || digest !== m.chunks[index]) {
        c.logger.warn?.({ sha256, chunk: index, source: s.source.id, got: bytes.length, want: length }, 'a source sent a corrupt chunk')
        this.sources.failed(s, 'corrupt', new SourceError(`chunk ${index} failed verification`, 'corrupt'))
        return
      }
      const now = performance.now()
      observeRate(s, length, now - Math.max(s.lastDoneAt, sentAt))
      s.lastDoneAt = now
      c.feedback.transferred(s.source, length, now - sentAt)
      c.observer.chunkReceived?.(s.source, length)
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
        this.hooks.fatal(new StorageError(`cannot write the partial download of ${sha256}: ${(err as Error).message}`))
        return
      } finally {
        this.writes.delete(write)
        this.writing.delete(index)
      }
      this.hooks.written(index, bytes)
    } catch (err) {
      clearTimeout(timer)
      if (req.cancelled || this.run.signal.aborted) return
      const reason = err instanceof SourceError ? err.reason : signal.reason instanceof SourceError ? signal.reason.reason : 'error'
      this.sources.failed(s, reason, err)
    }
  }
}

function observeRate(s: SourceState, bytes: number, ms: number): void {
  const sample = bytes / (Math.max(ms, 0.1) / 1000)
  s.rate = s.rate === undefined ? sample : RATE_EWMA_ALPHA * sample + (1 - RATE_EWMA_ALPHA) * s.rate
}
