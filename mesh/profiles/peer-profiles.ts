import type { ChunkSource, SourceEstimate, SourceFailure, SourceFeedback } from '../../scheduler/index.ts'
import type { MeshHost, MeshLogger } from '../host.ts'
import { DEFAULT_PING_INTERVAL, DEFAULT_PROBE_BYTES, DEFAULT_PROFILE_FLUSH_DELAY, PING_TIMEOUT, PROBE_MIN_INTERVAL } from './constants.ts'
import { addRttSample, addThroughputSample, type ThroughputEstimate } from './ewma.ts'
import { TRANSFER_KINDS, type ProfileStore, type StoredProfile, type TransferKind } from '../../store/index.ts'
import { ProbeLimiter, runProbe, serveProbes, type ProbeResult } from './probe.ts'

/** What a peer advertises about itself (mesh/content's have-summaries carry it). */
export interface PeerAdvertisement {
  labels?: Record<string, string>
  /** Transfers the peer is serving right now. */
  load?: number
}

/** Looks up a peer's latest advertisement; undefined when none has arrived. */
export type PeerInfoAccessor = (peerId: string) => PeerAdvertisement | undefined

export interface PeerProfilesComponents {
  host: MeshHost
  /** Where measured profiles are kept across restarts (store/peer-profiles.ts). */
  store: ProfileStore
  logger?: MeshLogger
  /** Where advertised labels and load come from. Optional: without it both stay unknown. */
  peerInfo?: PeerInfoAccessor
}

export interface PeerProfilesInit {
  /** How often connected peers are pinged. @default DEFAULT_PING_INTERVAL (10 s) */
  pingIntervalMs?: number
  /** Bytes an active probe asks for. @default DEFAULT_PROBE_BYTES (1 MiB) */
  probeBytes?: number
  /** Probe a peer that has no throughput sample yet, after it connects. @default true */
  autoProbe?: boolean
  /** Longest delay between a change and its write to SQLite. @default DEFAULT_PROFILE_FLUSH_DELAY (2 s) */
  flushDelayMs?: number
  /** @default Date.now */
  now?: () => number
}

/** One peer's profile as the API shows it (null where nothing is known). */
export interface PeerProfileView {
  peerId: string
  connected: boolean
  addresses: string[]
  labels: Record<string, string>
  rttMs: number | null
  jitterMs: number | null
  rttSamples: number
  throughput: Record<TransferKind, ThroughputEstimate | null>
  /** In-flight transfers the peer advertised, null when it advertised none. */
  load: number | null
  failures: Record<SourceFailure, number>
  /** Current penalty points and whether the peer is banned (mesh/penalties). */
  penalty: { score: number; banned: boolean }
  lastSeen: number | null
  updatedAt: number
}

/** Measured quality of every mesh peer: the scheduler's SourceFeedback, kept across restarts. */
export interface PeerProfiles extends SourceFeedback {
  /** Loads saved profiles, serves probes, starts pinging. */
  start(): Promise<void>
  /** Stops the timers and writes what is pending. */
  stop(): void
  /** Every known peer: connected now, or profiled before. */
  list(): PeerProfileView[]
  get(peerId: string): PeerProfileView | undefined
  /** Measures a peer's libp2p throughput now with a probe transfer, and records it. */
  probe(peerId: string, signal?: AbortSignal): Promise<ProbeResult>
  /** Sets (or replaces) where advertised labels and load come from. */
  usePeerInfo(accessor: PeerInfoAccessor): void
  /** Writes pending changes to SQLite now. */
  flush(): void
}

export function createPeerProfiles(components: PeerProfilesComponents, init: PeerProfilesInit = {}): PeerProfiles {
  return new MeshPeerProfiles(components, init)
}

const FAILURES: readonly SourceFailure[] = ['corrupt', 'timeout', 'refused', 'gone', 'error']
const NOOP: MeshLogger = { info() {}, warn() {}, debug() {} }

class MeshPeerProfiles implements PeerProfiles {
  private readonly profiles = new Map<string, StoredProfile>()
  /** Throughput of sources without a mesh peer (upstream registries), by source id; memory only. */
  private readonly upstream = new Map<string, ThroughputEstimate>()
  private readonly dirty = new Set<string>()
  private readonly pinging = new Set<string>()
  private readonly probing = new Map<string, Promise<ProbeResult>>()
  private readonly lastAutoProbe = new Map<string, number>()
  private readonly store: ProfileStore
  private readonly logger: MeshLogger
  private readonly now: () => number
  private peerInfo: PeerInfoAccessor | undefined
  private flushTimer: NodeJS.Timeout | undefined
  private pingTimer: NodeJS.Timeout | undefined
  private stopped = false

  constructor(
    private readonly c: PeerProfilesComponents,
    private readonly init: PeerProfilesInit,
  ) {
    this.store = c.store
    this.logger = c.logger ?? NOOP
    this.now = init.now ?? Date.now
    this.peerInfo = c.peerInfo
  }

  async start(): Promise<void> {
    for (const p of this.store.loadAll()) this.profiles.set(p.peerId, p)
    await serveProbes(this.c.host, new ProbeLimiter(), this.logger)
    this.c.host.onPeerConnect((peerId) => this.connected(peerId))
    // A peer that reconnects may be probed again at once if it still has no throughput sample.
    this.c.host.onPeerDisconnect((peerId) => this.lastAutoProbe.delete(peerId))
    this.pingTimer = setInterval(() => this.tick(), this.init.pingIntervalMs ?? DEFAULT_PING_INTERVAL)
    this.pingTimer.unref()
    // Peers that connected before we subscribed (bootstrap dials race start()).
    for (const peerId of this.c.host.connectedPeers()) this.connected(peerId)
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.pingTimer)
    this.flush()
  }

  usePeerInfo(accessor: PeerInfoAccessor): void {
    this.peerInfo = accessor
    for (const peerId of this.profiles.keys()) this.refreshLabels(peerId)
  }

  // --- SourceFeedback -------------------------------------------------------------------------

  estimate(source: ChunkSource): SourceEstimate {
    if (source.peerId === undefined || source.kind === 'upstream') {
      const t = this.upstream.get(source.id)
      return t ? { bytesPerSecond: t.bytesPerSecond } : {}
    }
    const p = this.profiles.get(source.peerId)
    const out: SourceEstimate = {}
    if (p?.rtt) out.rttMs = p.rtt.rttMs
    // A kind never measured borrows the other kind's figure: the probe runs over libp2p, and an
    // estimate of the same link beats none before the first HTTP transfer.
    const own = p?.throughput[source.kind]
    const other = p?.throughput[source.kind === 'http' ? 'libp2p' : 'http']
    const bps = (own ?? other)?.bytesPerSecond
    if (bps !== undefined) out.bytesPerSecond = bps
    const load = this.advertised(source.peerId)?.load
    if (load !== undefined) out.load = load
    return out
  }

  transferred(source: ChunkSource, bytes: number, ms: number): void {
    if (source.peerId === undefined || source.kind === 'upstream') {
      const next = addThroughputSample(this.upstream.get(source.id), bytes, ms)
      if (next) this.upstream.set(source.id, next)
      return
    }
    const kind = source.kind
    this.touch(source.peerId, (p) => {
      const next = addThroughputSample(p.throughput[kind], bytes, ms)
      if (next) p.throughput[kind] = next
      p.lastSeen = this.now()
    })
  }

  failed(source: ChunkSource, reason: SourceFailure): void {
    if (source.peerId === undefined || source.kind === 'upstream') return
    const peerId = source.peerId
    this.touch(peerId, (p) => {
      p.failures[reason] = (p.failures[reason] ?? 0) + 1
    })
    if (reason === 'corrupt') {
      this.logger.warn({ peer: peerId, source: source.id }, 'peer served a chunk that does not match its manifest; penalised')
      this.c.host.penalties.penalise(peerId, 'corrupt')
    }
  }

  // --- listing --------------------------------------------------------------------------------

  list(): PeerProfileView[] {
    const connected = this.connectedAddresses()
    const ids = new Set([...this.profiles.keys(), ...connected.keys()])
    return [...ids].sort().map((id) => this.view(id, connected))
  }

  get(peerId: string): PeerProfileView | undefined {
    const connected = this.connectedAddresses()
    if (!this.profiles.has(peerId) && !connected.has(peerId)) return undefined
    return this.view(peerId, connected)
  }

  private view(peerId: string, connected: Map<string, string[]>): PeerProfileView {
    // Advertised labels seen here are remembered, so a restart still lists them.
    this.refreshLabels(peerId)
    const p = this.profiles.get(peerId) ?? this.blank(peerId)
    const ad = this.advertised(peerId)
    const failures = Object.fromEntries(FAILURES.map((r) => [r, p.failures[r] ?? 0])) as Record<SourceFailure, number>
    const throughput = Object.fromEntries(TRANSFER_KINDS.map((k) => [k, p.throughput[k] ?? null])) as Record<TransferKind, ThroughputEstimate | null>
    return {
      peerId,
      connected: connected.has(peerId),
      addresses: connected.get(peerId) ?? p.addresses,
      labels: ad?.labels ?? p.labels,
      rttMs: p.rtt?.rttMs ?? null,
      jitterMs: p.rtt?.jitterMs ?? null,
      rttSamples: p.rtt?.samples ?? 0,
      throughput,
      load: ad?.load ?? null,
      failures,
      penalty: { score: this.c.host.penalties.score(peerId), banned: this.c.host.penalties.banned(peerId) },
      lastSeen: p.lastSeen ?? null,
      updatedAt: p.updatedAt,
    }
  }

  // --- measuring ------------------------------------------------------------------------------

  probe(peerId: string, signal?: AbortSignal): Promise<ProbeResult> {
    // One probe per peer at a time: a second caller shares the running one.
    const running = this.probing.get(peerId)
    if (running) return running
    const run = (async () => {
      try {
        const r = await runProbe(this.c.host, peerId, this.init.probeBytes ?? DEFAULT_PROBE_BYTES, signal)
        this.touch(peerId, (p) => {
          const next = addThroughputSample(p.throughput.libp2p, r.bytes, r.ms)
          if (next) p.throughput.libp2p = next
          p.lastSeen = this.now()
        })
        this.logger.debug({ peer: peerId, bytes: r.bytes, ms: r.ms }, 'probe measured')
        return r
      } finally {
        this.probing.delete(peerId)
      }
    })()
    this.probing.set(peerId, run)
    return run
  }

  private connected(peerId: string): void {
    if (this.stopped) return
    this.touch(peerId, (p) => {
      p.lastSeen = this.now()
      const addresses = this.connectedAddresses().get(peerId)
      if (addresses?.length) p.addresses = addresses
    })
    void this.measure(peerId)
  }

  /** Every ping interval: ping each connected peer, refresh labels, probe the unmeasured. */
  private tick(): void {
    if (this.stopped) return
    for (const peerId of this.c.host.connectedPeers()) void this.measure(peerId)
  }

  private async measure(peerId: string): Promise<void> {
    await this.ping(peerId)
    this.refreshLabels(peerId)
    const p = this.profiles.get(peerId)
    if (this.stopped || (this.init.autoProbe ?? true) === false || p?.throughput.libp2p) return
    const last = this.lastAutoProbe.get(peerId)
    if (last !== undefined && this.now() - last < PROBE_MIN_INTERVAL) return
    this.lastAutoProbe.set(peerId, this.now())
    await this.probe(peerId).catch((err: unknown) => this.logger.debug({ peer: peerId, err: (err as Error).message }, 'probe failed'))
  }

  private async ping(peerId: string): Promise<void> {
    if (this.pinging.has(peerId) || this.stopped) return
    this.pinging.add(peerId)
    try {
      const ms = await this.c.host.ping(peerId, AbortSignal.timeout(PING_TIMEOUT))
      this.touch(peerId, (p) => {
        p.rtt = addRttSample(p.rtt, ms)
        p.lastSeen = this.now()
      })
    } catch (err) {
      this.logger.debug({ peer: peerId, err: (err as Error).message }, 'ping failed')
    } finally {
      this.pinging.delete(peerId)
    }
  }

  private refreshLabels(peerId: string): void {
    const labels = this.advertised(peerId)?.labels
    const p = this.profiles.get(peerId)
    if (!labels || !p || JSON.stringify(labels) === JSON.stringify(p.labels)) return
    this.touch(peerId, (q) => (q.labels = { ...labels }))
  }

  private advertised(peerId: string): PeerAdvertisement | undefined {
    try {
      return this.peerInfo?.(peerId)
    } catch (err) {
      this.logger.debug({ peer: peerId, err: (err as Error).message }, 'peer info lookup failed')
      return undefined
    }
  }

  private connectedAddresses(): Map<string, string[]> {
    return new Map(this.c.host.status().connected.map((p) => [p.peerId, p.addresses]))
  }

  // --- persistence ----------------------------------------------------------------------------

  private blank(peerId: string): StoredProfile {
    return { peerId, addresses: [], labels: {}, rtt: undefined, throughput: {}, failures: {}, lastSeen: undefined, updatedAt: this.now() }
  }

  /** Changes a profile (created on first use) and schedules its write. */
  private touch(peerId: string, change: (p: StoredProfile) => void): void {
    let p = this.profiles.get(peerId)
    if (!p) {
      p = this.blank(peerId)
      this.profiles.set(peerId, p)
    }
    change(p)
    p.updatedAt = this.now()
    this.dirty.add(peerId)
    if (!this.flushTimer && !this.stopped) {
      this.flushTimer = setTimeout(() => this.flush(), this.init.flushDelayMs ?? DEFAULT_PROFILE_FLUSH_DELAY)
      this.flushTimer.unref()
    }
  }

  flush(): void {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    if (this.dirty.size === 0) return
    const batch = [...this.dirty].map((id) => this.profiles.get(id)).filter((p): p is StoredProfile => p !== undefined)
    this.dirty.clear()
    try {
      this.store.save(batch)
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, peers: batch.length }, 'could not save peer profiles')
    }
  }
}
