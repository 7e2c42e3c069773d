/*
 * The source set of one download: the sources the directory named, what each holds (have
 * maps, polled and watched), how many hold each chunk, and each source's standing — busy
 * backoff, drops for failures, readmission, the rate it delivers at.
 */
import { createHash, randomBytes } from 'node:crypto'
import { hasBit, haveHas } from './bitmap.ts'
import { raceAbort, type DownloadRun } from './download-context.ts'
import type { PartialFile } from './partial.ts'
import { SourceError, type ChunkSource, type HaveMap, type SourceFailure } from './types.ts'

export class SourceState {
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

export class SourceSet {
  private readonly all = new Map<string, SourceState>()
  /** Per chunk, how many active sources hold it. */
  availability = new Uint16Array(0)
  private directoryBusy = false
  /** Spreads this node's rarest-first scans away from other nodes' scans of the same sources. */
  private readonly offsetSalt = randomBytes(8)

  constructor(
    private readonly run: DownloadRun,
    /** A source was dropped: its requests in flight are cancelled. */
    private readonly onDrop: (s: SourceState) => void,
  ) {}

  values(): IterableIterator<SourceState> {
    return this.all.values()
  }

  /** The blob has `chunks` chunks (its manifest is known): count holders per chunk from now on. */
  sizeTo(chunks: number): void {
    this.availability = new Uint16Array(chunks)
    this.recomputeAvailability()
  }

  /** The download ended: the sources still active are done. */
  finish(): void {
    for (const s of this.all.values()) if (s.state === 'active') s.state = 'done'
  }

  querySignal(): AbortSignal {
    return AbortSignal.any([this.run.signal, AbortSignal.timeout(this.run.c.tuning.sourceQueryTimeoutMs)])
  }

  /** Asks the directory for sources and learns what the new ones hold. */
  async refreshDirectory(): Promise<void> {
    if (this.directoryBusy || this.run.signal.aborted) return
    this.directoryBusy = true
    try {
      let found: ChunkSource[] = []
      try {
        found = await this.run.c.directory.sources(this.run.sha256, this.querySignal())
      } catch (err) {
        this.run.c.logger.debug?.({ err, sha256: this.run.sha256 }, 'source directory failed')
      }
      const added: SourceState[] = []
      for (const source of found) {
        if (this.all.has(source.id)) continue
        const s = new SourceState(source, this.offsetSalt)
        this.all.set(source.id, s)
        added.push(s)
        source.watchHave?.(
          this.run.sha256,
          (have) => {
            if (s.state !== 'active') return
            s.have = have
            this.recomputeAvailability()
            this.run.wake()
          },
          this.run.signal,
        )
      }
      await Promise.all(added.map((s) => this.pollHave(s)))
    } finally {
      this.directoryBusy = false
    }
  }

  pollHaves(): void {
    for (const s of this.all.values()) if (s.state === 'active' && s.have !== 'all') void this.pollHave(s)
  }

  private async pollHave(s: SourceState): Promise<void> {
    if (s.polling) return
    s.polling = true
    try {
      const have = await raceAbort(s.source.have(this.run.sha256, this.querySignal()), this.querySignal())
      if (s.state !== 'active') return
      s.have = have
      this.recomputeAvailability()
      this.run.wake()
    } catch (err) {
      if (this.run.signal.aborted) return
      this.failed(s, err instanceof SourceError ? err.reason : 'error', err)
    } finally {
      s.polling = false
    }
  }

  private recomputeAvailability(): void {
    const a = this.availability
    a.fill(0)
    for (const s of this.all.values()) {
      if (s.state !== 'active' || s.have === undefined) continue
      if (s.have === 'all') {
        for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + 1
      } else {
        for (let i = 0; i < a.length; i++) if (hasBit(s.have, i)) a[i] = (a[i] as number) + 1
      }
    }
  }

  /** Some active source holds a chunk the partial file lacks. */
  anyUseful(partial: PartialFile): boolean {
    for (const s of this.all.values()) {
      if (s.state !== 'active' || s.have === undefined) continue
      for (let i = 0; i < partial.chunks; i++) if (!partial.has(i) && haveHas(s.have, i)) return true
    }
    return false
  }

  estimate(s: SourceState): { rate: number | undefined; rtt: number | undefined } {
    const e = this.run.c.feedback.estimate(s.source)
    return { rate: s.rate ?? e.bytesPerSecond, rtt: e.rttMs }
  }

  drop(s: SourceState, reason: SourceFailure): void {
    if (s.state === 'dropped') return
    s.state = 'dropped'
    s.reason = reason
    s.drops++
    const t = this.run.c.tuning
    // Corrupt data is never taken back; any other drop (gone, errors, endless busy) is retried later.
    s.readmitAt = reason === 'corrupt' ? Infinity : Date.now() + Math.min(t.maxReadmitAfterMs, t.readmitAfterMs * 2 ** (s.drops - 1))
    this.run.c.logger.warn?.({ sha256: this.run.sha256, source: s.source.id, reason }, 'source dropped from a download')
    this.onDrop(s)
    this.recomputeAvailability()
    this.run.wake()
  }

  /** The manifest `s` offered does not describe the blob (every chunk matched it, the sha256 did not). */
  blameManifest(s: SourceState): void {
    s.failures++
    this.run.c.feedback.failed(s.source, 'corrupt')
    this.run.c.observer.chunkFailed?.(s.source, 'corrupt')
    this.drop(s, 'corrupt')
  }

  /**
   * A request to `s` failed. Busy answers ('refused') and timeouts are congestion, not faults: the
   * source is paused (exponential backoff) and asked again later; only a long run of them with
   * nothing delivered drops it. Corrupt data and a source that is gone drop it at once; other
   * errors after maxConsecutiveFailures in a row. A drop that is not for corruption is undone
   * after a backoff (readmit()).
   */
  failed(s: SourceState, reason: SourceFailure, err: unknown): void {
    const t = this.run.c.tuning
    this.run.c.observer.chunkFailed?.(s.source, reason)
    this.run.c.logger.debug?.({ sha256: this.run.sha256, source: s.source.id, reason, err }, 'source request failed')
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
        this.run.c.feedback.failed(s.source, reason)
        this.drop(s, reason)
      }
      return
    }
    s.failures++
    s.consecutiveFailures++
    this.run.c.feedback.failed(s.source, reason)
    if (reason === 'corrupt' || reason === 'gone' || s.consecutiveFailures >= t.maxConsecutiveFailures) this.drop(s, reason)
  }

  /** Takes back the sources dropped for failures whose readmission time has come (never corrupt ones). */
  readmit(): void {
    const now = Date.now()
    for (const s of this.all.values()) {
      if (s.state !== 'dropped' || s.reason === 'corrupt' || now < s.readmitAt) continue
      s.state = 'active'
      s.reason = undefined
      s.readmitted++
      s.consecutiveFailures = 0
      s.consecutiveBackoffs = 0
      s.backoffUntil = 0
      s.have = undefined
      this.run.c.logger.info?.({ sha256: this.run.sha256, source: s.source.id, drops: s.drops }, 'dropped source taken back into a download')
      void this.pollHave(s)
    }
  }

  private wakeAt(at: number): void {
    const timer = setTimeout(() => this.run.wake(), Math.max(0, at - Date.now()) + 1)
    timer.unref?.()
  }
}
