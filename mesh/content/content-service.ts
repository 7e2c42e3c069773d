import type { MeshHost, MeshLogger, ProviderRecord } from '../host.ts'
import { createProviderAnnouncer, type AnnouncerStats, type ProviderAnnouncer } from './announcer.ts'
import { blobCid } from './cid.ts'
import { CHANGE_BATCH, CHANGE_POLL_INTERVAL, DEFAULT_PROVIDE_INTERVAL, FIND_PROVIDERS_TIMEOUT, MAX_DHT_PROVIDERS } from './constants.ts'
import { createHaveGossip, type HaveGossip, type PeerAdvertisedInfo } from './have-gossip.ts'
import type { BlobHoldings } from '../../store/index.ts'

export interface MeshContentComponents {
  host: MeshHost
  /** The blobs this node holds and the feed of changes to them (store/held-blobs.ts). */
  holdings: BlobHoldings
  logger?: MeshLogger
}

export interface MeshContentInit {
  /** Labels advertised in have-summaries. @default {} */
  labels?: Record<string, string>
  /** Transfers this node serves right now (advertised as its load). @default () => 0 */
  load?: () => number
  /** How often held blobs are announced again on the DHT. @default DEFAULT_PROVIDE_INTERVAL (12 h) */
  provideIntervalMs?: number
  /** How often the blob change feed is read. @default CHANGE_POLL_INTERVAL (500 ms) */
  pollIntervalMs?: number
  /** Full have-summary interval. @default HAVE_FULL_INTERVAL (60 s) */
  summaryIntervalMs?: number
}

/** How a holder of a blob was learnt. */
export type HolderSource = 'summary' | 'dht'

export interface BlobHolder {
  peerId: string
  connected: boolean
  via: HolderSource[]
  /**
   * A DHT record that the peer's own, newer have-summary contradicts (it deleted the blob;
   * its record on other peers lives until it expires). Not offered as a source.
   */
  stale: boolean
}

export interface BlobLocation {
  sha256: string
  /** This node holds the blob itself. */
  self: boolean
  holders: BlobHolder[]
  /** The DHT lookup failed or timed out (what it found until then is included). */
  dhtError: string | null
}

export interface ContentStats extends AnnouncerStats {
  /** Peers whose have-summary we hold. */
  summaries: number
  /** Blobs this node holds. */
  held: number
}

/** Content location: DHT provider records for what this node holds, and have-summaries with direct peers. */
export interface MeshContent {
  start(): Promise<void>
  stop(): void
  /** Reads the change feed now (a commit or delete just happened) instead of at the next poll. */
  poll(): void
  holds(sha256: string): boolean
  /** Connected peers whose have-summary (probably) holds `sha256`. */
  summaryHolders(sha256: string): string[]
  /** Whether a peer's have-summary says it holds `sha256`; undefined without a summary. */
  summarySays(peerId: string, sha256: string): boolean | undefined
  /** DHT providers of `sha256` (own node excluded), at most MAX_DHT_PROVIDERS, within `timeoutMs`. */
  findProviders(sha256: string, signal: AbortSignal, timeoutMs?: number): Promise<{ providers: ProviderRecord[]; error: string | null }>
  /** Who holds `sha256` and how we know: summaries of direct peers, then the DHT. */
  locate(sha256: string, signal: AbortSignal): Promise<BlobLocation>
  /** Labels and load a peer advertised (undefined before its first summary or after it left). */
  peerInfo(peerId: string): PeerAdvertisedInfo | undefined
  stats(): ContentStats
}

export function createMeshContent(components: MeshContentComponents, init: MeshContentInit = {}): MeshContent {
  return new ContentLocation(components, init)
}

const NOOP: MeshLogger = { info() {}, warn() {}, debug() {} }

class ContentLocation implements MeshContent {
  private readonly log: MeshLogger
  private readonly holdings: BlobHoldings
  private readonly gossip: HaveGossip
  private readonly announcer: ProviderAnnouncer
  private cursor = 0
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly c: MeshContentComponents,
    private readonly init: MeshContentInit,
  ) {
    this.log = c.logger ?? NOOP
    this.holdings = c.holdings
    this.gossip = createHaveGossip(
      { host: c.host, holdings: this.holdings, logger: c.logger },
      { labels: init.labels, load: init.load, fullIntervalMs: init.summaryIntervalMs },
    )
    this.announcer = createProviderAnnouncer(
      { host: c.host, holdings: this.holdings, logger: c.logger },
      { intervalMs: init.provideIntervalMs ?? DEFAULT_PROVIDE_INTERVAL },
    )
  }

  async start(): Promise<void> {
    // Everything held now is covered by the first summary and the first announcement pass,
    // so the feed is read from here on.
    this.cursor = this.holdings.head()
    this.holdings.trim(this.cursor)
    await this.gossip.start()
    this.announcer.start()
    this.timer = setInterval(() => this.poll(), this.init.pollIntervalMs ?? CHANGE_POLL_INTERVAL)
    this.timer.unref()
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
    this.announcer.stop()
    this.gossip.stop()
  }

  poll(): void {
    if (this.stopped) return
    try {
      for (;;) {
        const batch = this.holdings.changesSince(this.cursor, CHANGE_BATCH)
        if (batch.gap) {
          this.log.warn({ cursor: this.cursor }, 'content: blob change feed was trimmed unread; announcing everything again')
          this.gossip.resync()
          this.announcer.fullPass()
        } else {
          for (const change of batch.changes) {
            this.gossip.changed(change)
            this.announcer.changed(change)
          }
        }
        if (batch.next === this.cursor) break
        this.cursor = batch.next
        this.holdings.trim(this.cursor)
        if (batch.changes.length === 0) break
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'content: reading the blob change feed failed')
    }
  }

  holds(sha256: string): boolean {
    return this.holdings.holds(sha256)
  }

  summaryHolders(sha256: string): string[] {
    const connected = new Set(this.c.host.connectedPeers())
    return this.gossip.holders(sha256).filter((p) => connected.has(p) && p !== this.c.host.peerId)
  }

  summarySays(peerId: string, sha256: string): boolean | undefined {
    return this.gossip.peerHolds(peerId, sha256)
  }

  async findProviders(sha256: string, signal: AbortSignal, timeoutMs = FIND_PROVIDERS_TIMEOUT): Promise<{ providers: ProviderRecord[]; error: string | null }> {
    const found = new Map<string, ProviderRecord>()
    const limit = new AbortController()
    const combined = AbortSignal.any([signal, limit.signal, AbortSignal.timeout(timeoutMs)])
    let error: string | null = null
    try {
      for await (const p of this.c.host.findProviders(blobCid(sha256), combined)) {
        if (p.peerId === this.c.host.peerId || found.has(p.peerId)) continue
        found.set(p.peerId, p)
        if (found.size >= MAX_DHT_PROVIDERS) {
          limit.abort()
          break
        }
      }
    } catch (err) {
      if (!limit.signal.aborted) error = (err as Error).message
    }
    return { providers: [...found.values()], error }
  }

  async locate(sha256: string, signal: AbortSignal): Promise<BlobLocation> {
    const connected = new Set(this.c.host.connectedPeers())
    const holders = new Map<string, BlobHolder>()
    for (const peerId of this.summaryHolders(sha256)) holders.set(peerId, { peerId, connected: true, via: ['summary'], stale: false })
    const { providers, error } = await this.findProviders(sha256, signal)
    for (const p of providers) {
      const h = holders.get(p.peerId)
      if (h) {
        h.via.push('dht')
        continue
      }
      // A Bloom filter has no false negatives: a peer whose current summary says no has deleted it.
      const stale = this.gossip.peerHolds(p.peerId, sha256) === false
      holders.set(p.peerId, { peerId: p.peerId, connected: connected.has(p.peerId), via: ['dht'], stale })
    }
    return { sha256, self: this.holdings.holds(sha256), holders: [...holders.values()], dhtError: error }
  }

  peerInfo(peerId: string): PeerAdvertisedInfo | undefined {
    return this.gossip.peerInfo(peerId)
  }

  stats(): ContentStats {
    return { ...this.announcer.stats(), summaries: this.gossip.peers().length, held: this.holdings.count() }
  }
}
