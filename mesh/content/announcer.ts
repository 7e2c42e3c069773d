import type { MeshHost, MeshLogger } from '../host.ts'
import { blobCid } from './cid.ts'
import {
  ANNOUNCE_BATCH,
  ANNOUNCE_RETRY_DELAY,
  ANNOUNCE_SETTLE_DELAY,
  DEFAULT_PROVIDE_INTERVAL,
  PROVIDE_CONCURRENCY,
  PROVIDE_TIMEOUT,
} from './constants.ts'
import type { BlobHoldings, HoldingChange } from '../../store/index.ts'

export interface ProviderAnnouncerComponents {
  host: MeshHost
  holdings: BlobHoldings
  logger?: MeshLogger
}

export interface ProviderAnnouncerInit {
  /** How often every held blob is announced again. @default DEFAULT_PROVIDE_INTERVAL (12 h) */
  intervalMs?: number
}

export interface AnnouncerStats {
  /** Provide operations that reached at least one peer. */
  announced: number
  /** Provide operations that reached nobody or failed. */
  unreached: number
  /** Blobs withdrawn (own record dropped, refresh stopped). */
  withdrawn: number
  /** Full passes over every held blob completed. */
  passes: number
  lastPassAt: number | null
  /** A full pass is running. */
  passing: boolean
}

/**
 * Keeps this node's DHT provider records in step with the blobs it holds: a full pass (in
 * ANNOUNCE_BATCH pages from SQLite, PROVIDE_CONCURRENCY at a time) when the node first has
 * peers and every interval after, single provides for blobs committed meanwhile, and a
 * withdrawal for deleted ones. kad-dht has no message to remove a record from other peers:
 * withdrawing drops our own record and stops refreshing it, so peers' copies expire.
 */
export interface ProviderAnnouncer {
  start(): void
  stop(): void
  changed(change: HoldingChange): void
  /** Starts a full pass now (or after the running one). */
  fullPass(): void
  stats(): AnnouncerStats
}

export function createProviderAnnouncer(components: ProviderAnnouncerComponents, init: ProviderAnnouncerInit = {}): ProviderAnnouncer {
  return new DhtAnnouncer(components, init)
}

const NOOP: MeshLogger = { info() {}, warn() {}, debug() {} }
/** Single provides queued beyond this turn into one full pass (which pages through SQLite). */
const MAX_PENDING = 4 * ANNOUNCE_BATCH

class DhtAnnouncer implements ProviderAnnouncer {
  private readonly log: MeshLogger
  private readonly intervalMs: number
  private readonly controller = new AbortController()
  private readonly pending = new Set<string>()
  private running = 0
  private pass: Promise<void> | undefined
  private passAgain = false
  private timers: NodeJS.Timeout[] = []
  private retryTimer: NodeJS.Timeout | undefined
  private retryDelay = ANNOUNCE_RETRY_DELAY
  private readonly counters: AnnouncerStats = { announced: 0, unreached: 0, withdrawn: 0, passes: 0, lastPassAt: null, passing: false }

  constructor(
    private readonly c: ProviderAnnouncerComponents,
    init: ProviderAnnouncerInit,
  ) {
    this.log = c.logger ?? NOOP
    this.intervalMs = init.intervalMs ?? DEFAULT_PROVIDE_INTERVAL
  }

  start(): void {
    // Announcing to an empty mesh stores nothing anywhere: the first pass waits for a peer,
    // and whenever the node goes from no peers to some, its records are placed again.
    this.c.host.onPeerConnect(() => {
      if (this.c.host.connectedPeers().length === 1) this.later(ANNOUNCE_SETTLE_DELAY)
    })
    if (this.c.host.connectedPeers().length > 0) this.later(ANNOUNCE_SETTLE_DELAY)
    const refresh = setInterval(() => this.fullPass(), this.intervalMs)
    refresh.unref()
    this.timers.push(refresh)
  }

  stop(): void {
    this.controller.abort()
    for (const t of this.timers) clearTimeout(t)
    clearTimeout(this.retryTimer)
    this.pending.clear()
  }

  stats(): AnnouncerStats {
    return { ...this.counters, passing: this.pass !== undefined }
  }

  changed(change: HoldingChange): void {
    if (this.controller.signal.aborted) return
    if (change.held) {
      if (this.pending.size >= MAX_PENDING) {
        this.pending.clear()
        this.fullPass()
        return
      }
      this.pending.add(change.sha256)
      this.drain()
      return
    }
    this.pending.delete(change.sha256)
    this.c.host.cancelProvide(blobCid(change.sha256)).then(
      () => this.counters.withdrawn++,
      (err: unknown) => this.log.debug({ sha256: change.sha256, err: (err as Error).message }, 'content: withdrawing a provider record failed'),
    )
  }

  private later(ms: number): void {
    const t = setTimeout(() => this.fullPass(), ms)
    t.unref()
    this.timers.push(t)
  }

  /** Runs queued single provides, PROVIDE_CONCURRENCY at a time. */
  private drain(): void {
    while (this.running < PROVIDE_CONCURRENCY && this.pending.size > 0 && !this.controller.signal.aborted) {
      const sha = this.pending.values().next().value as string
      this.pending.delete(sha)
      // No peer: nothing to tell; the pass on the next first connection covers it.
      if (this.c.host.connectedPeers().length === 0) continue
      this.running++
      void this.provide(sha).finally(() => {
        this.running--
        this.drain()
      })
    }
  }

  /** One provide; true when at least one peer stored the record. */
  private async provide(sha256: string): Promise<boolean> {
    // Deleted while queued: announcing it would only mislead peers.
    if (!this.c.holdings.holds(sha256)) return false
    try {
      const stored = await this.c.host.provide(blobCid(sha256), AbortSignal.any([this.controller.signal, AbortSignal.timeout(PROVIDE_TIMEOUT)]))
      if (stored > 0) this.counters.announced++
      else this.counters.unreached++
      return stored > 0
    } catch (err) {
      this.counters.unreached++
      this.log.debug({ sha256, err: (err as Error).message }, 'content: provide failed')
      return false
    }
  }

  fullPass(): void {
    if (this.controller.signal.aborted) return
    if (this.pass) {
      this.passAgain = true
      return
    }
    this.pass = this.runPass()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'content: announcement pass failed'))
      .finally(() => {
        this.pass = undefined
        if (this.passAgain) {
          this.passAgain = false
          this.fullPass()
        }
      })
  }

  private async runPass(): Promise<void> {
    if (this.c.host.connectedPeers().length === 0) return
    const started = Date.now()
    let blobs = 0
    let reached = 0
    let after = ''
    for (;;) {
      if (this.controller.signal.aborted) return
      const page = this.c.holdings.page(after, ANNOUNCE_BATCH)
      for (let i = 0; i < page.length; i += PROVIDE_CONCURRENCY) {
        const results = await Promise.all(page.slice(i, i + PROVIDE_CONCURRENCY).map((sha) => this.provide(sha)))
        reached += results.filter(Boolean).length
      }
      blobs += page.length
      if (page.length < ANNOUNCE_BATCH) break
      after = page[page.length - 1] as string
    }
    this.counters.passes++
    this.counters.lastPassAt = Date.now()
    this.log.info({ blobs, reached, ms: Date.now() - started }, 'content: announced held blobs on the DHT')
    // Peers were connected but none took a record (their routing tables were not ready yet):
    // try again soon rather than wait a whole interval.
    if (blobs > 0 && reached === 0 && this.c.host.connectedPeers().length > 0) {
      clearTimeout(this.retryTimer)
      this.retryTimer = setTimeout(() => this.fullPass(), this.retryDelay)
      this.retryTimer.unref()
      this.retryDelay = Math.min(this.retryDelay * 2, this.intervalMs)
    } else if (reached > 0) {
      this.retryDelay = ANNOUNCE_RETRY_DELAY
    }
  }
}
