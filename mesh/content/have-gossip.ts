import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { MeshHost, MeshLogger } from '../host.ts'
import { bloomBytesFor, bloomOver, createBloomFilter, type BloomFilter } from './bloom.ts'
import {
  HAVE_DEBOUNCE,
  HAVE_FULL_INTERVAL,
  HAVE_IDLE_TIMEOUT,
  HAVE_OPEN_TIMEOUT,
  HAVE_PROTOCOL,
  LOAD_CHECK_INTERVAL,
  MAX_DELTA_DIGESTS,
  MAX_DELTA_DIGESTS_BEFORE_FULL,
  MAX_HAVE_MESSAGE_BYTES,
  MAX_PEER_DELTA_DIGESTS,
} from './constants.ts'
import type { BlobHoldings, HoldingChange } from '../../store/index.ts'
import { decodeHave, encodeHave, HaveProtocolError, type HaveMessage } from './have-messages.ts'

/** What a peer told us about itself over /ak/have/1.0.0. */
export interface PeerAdvertisedInfo {
  labels: Record<string, string>
  /** Transfers the peer is serving right now, as it advertised. */
  load: number
  /** Blobs in the peer's last full summary. */
  blobs: number
  /** Milliseconds since the peer's last full summary arrived. */
  summaryAge: number
  /** Milliseconds since the peer's last message of any kind. */
  updatedAge: number
}

export interface HaveGossipComponents {
  host: MeshHost
  holdings: BlobHoldings
  logger?: MeshLogger
}

export interface HaveGossipInit {
  /** Labels advertised to peers. @default {} */
  labels?: Record<string, string>
  /** Transfers this node serves right now (the chunk service's inFlight). @default () => 0 */
  load?: () => number
  /** @default HAVE_FULL_INTERVAL (60 s) */
  fullIntervalMs?: number
  /** @default HAVE_DEBOUNCE (250 ms) */
  debounceMs?: number
  /** @default Date.now */
  now?: () => number
}

/** Have-summaries to and from directly connected peers. */
export interface HaveGossip {
  start(): Promise<void>
  stop(): void
  /** A held blob appeared or went away (from the change feed): goes out in the next delta. */
  changed(change: HoldingChange): void
  /** Sends a fresh full summary to every peer (after the change feed lost track). */
  resync(): void
  /** Connected peers whose summary (probably: a Bloom filter) says they hold `sha256`. */
  holders(sha256: string): string[]
  /** Whether `peerId` sent a summary, and if so whether it (probably) holds `sha256`. */
  peerHolds(peerId: string, sha256: string): boolean | undefined
  peerInfo(peerId: string): PeerAdvertisedInfo | undefined
  /** Peers we hold a summary from. */
  peers(): string[]
}

export function createHaveGossip(components: HaveGossipComponents, init: HaveGossipInit = {}): HaveGossip {
  return new HaveSummaries(components, init)
}

/** What one peer holds, as it told us: its last full filter plus the deltas since. */
interface PeerSummary {
  stream: Stream
  bloom: BloomFilter
  blobs: number
  adds: Set<string>
  removes: Set<string>
  labels: Record<string, string>
  load: number
  summaryAt: number
  updatedAt: number
}

/** Our outbound stream to one peer; writes are chained so messages keep their order. */
interface Session {
  stream: Stream
  write: (message: Uint8Array) => Promise<void>
  tail: Promise<void>
  /** Digests sent in deltas since the last full summary on this stream. */
  deltaDigests: number
}

const NOOP: MeshLogger = { info() {}, warn() {}, debug() {} }
/** Errors of the length-prefix decoder that mean the peer framed a message wrongly. */
const FRAMING_ERRORS = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError'])

class HaveSummaries implements HaveGossip {
  private readonly log: MeshLogger
  private readonly now: () => number
  private readonly received = new Map<string, PeerSummary>()
  private readonly sessions = new Map<string, Session>()
  private readonly opening = new Set<string>()
  private readonly pendingAdds = new Set<string>()
  private readonly pendingRemoves = new Set<string>()
  private flushTimer: NodeJS.Timeout | undefined
  private timers: NodeJS.Timeout[] = []
  private summaryCache: Uint8Array | undefined
  private lastLoad = -1
  private stopped = false

  constructor(
    private readonly c: HaveGossipComponents,
    private readonly init: HaveGossipInit,
  ) {
    this.log = c.logger ?? NOOP
    this.now = init.now ?? Date.now
  }

  async start(): Promise<void> {
    const { host } = this.c
    await host.handle(HAVE_PROTOCOL, (stream, remote) => this.receive(stream, remote))
    host.onPeerConnect((peer) => void this.open(peer))
    host.onPeerDisconnect((peer) => this.forget(peer))
    for (const peer of host.connectedPeers()) void this.open(peer)
    const full = setInterval(() => this.sendFullToAll(), this.init.fullIntervalMs ?? HAVE_FULL_INTERVAL)
    const load = setInterval(() => this.checkLoad(), LOAD_CHECK_INTERVAL)
    full.unref()
    load.unref()
    this.timers = [full, load]
  }

  stop(): void {
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    clearTimeout(this.flushTimer)
    for (const s of this.sessions.values()) void s.stream.close().catch(() => s.stream.abort(new Error('stopping')))
    this.sessions.clear()
    this.received.clear()
  }

  changed(change: HoldingChange): void {
    this.summaryCache = undefined
    if (change.held) {
      this.pendingRemoves.delete(change.sha256)
      this.pendingAdds.add(change.sha256)
    } else {
      this.pendingAdds.delete(change.sha256)
      this.pendingRemoves.add(change.sha256)
    }
    // Too much for deltas: everyone gets a full summary instead (built from SQLite, not memory).
    if (this.pendingAdds.size + this.pendingRemoves.size > MAX_DELTA_DIGESTS_BEFORE_FULL) {
      this.resync()
      return
    }
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined
        this.flush()
      }, this.init.debounceMs ?? HAVE_DEBOUNCE)
      this.flushTimer.unref()
    }
  }

  resync(): void {
    this.pendingAdds.clear()
    this.pendingRemoves.clear()
    this.summaryCache = undefined
    this.sendFullToAll()
  }

  holders(sha256: string): string[] {
    const out: string[] = []
    for (const [peer, s] of this.received) if (summaryHolds(s, sha256)) out.push(peer)
    return out
  }

  peerHolds(peerId: string, sha256: string): boolean | undefined {
    const s = this.received.get(peerId)
    return s ? summaryHolds(s, sha256) : undefined
  }

  peerInfo(peerId: string): PeerAdvertisedInfo | undefined {
    const s = this.received.get(peerId)
    if (!s) return undefined
    const now = this.now()
    return { labels: { ...s.labels }, load: s.load, blobs: s.blobs, summaryAge: now - s.summaryAt, updatedAge: now - s.updatedAt }
  }

  peers(): string[] {
    return [...this.received.keys()]
  }

  // ---- sending -------------------------------------------------------------

  private labels(): Record<string, string> {
    return this.init.labels ?? {}
  }

  private load(): number {
    try {
      return Math.max(0, Math.min(1_000_000, Math.floor(this.init.load?.() ?? 0)))
    } catch {
      return 0
    }
  }

  /** The full summary of what we hold now: a Bloom filter built page by page from SQLite. */
  private summary(): Uint8Array {
    if (this.summaryCache) return this.summaryCache
    const { holdings } = this.c
    const count = holdings.count()
    const bloom = createBloomFilter(bloomBytesFor(count))
    let after = ''
    let blobs = 0
    for (;;) {
      const page = holdings.page(after, 4096)
      for (const sha of page) bloom.add(sha)
      blobs += page.length
      if (page.length < 4096) break
      after = page[page.length - 1] as string
    }
    const message: HaveMessage = {
      type: 'summary',
      blobs,
      bloom: { hashes: bloom.hashes, bits: Buffer.from(bloom.bytes).toString('base64') },
      labels: this.labels(),
      load: this.load(),
    }
    this.summaryCache = encodeHave(message)
    return this.summaryCache
  }

  /** Opens our outbound have stream to a peer and sends the full summary first. */
  private async open(peer: string): Promise<void> {
    if (this.stopped || this.sessions.has(peer) || this.opening.has(peer)) return
    this.opening.add(peer)
    try {
      const stream = await this.c.host.openStream(peer, HAVE_PROTOCOL, AbortSignal.timeout(HAVE_OPEN_TIMEOUT))
      if (this.stopped) {
        stream.abort(new Error('stopping'))
        return
      }
      const lp = lpStream(stream, { maxDataLength: MAX_HAVE_MESSAGE_BYTES })
      const session: Session = {
        stream,
        tail: Promise.resolve(),
        deltaDigests: 0,
        write: (message) => {
          session.tail = session.tail.then(() => lp.write(message)).catch((err: unknown) => {
            this.log.debug({ peer, err: (err as Error).message }, 'have: stream to peer failed; reopening on the next round')
            stream.abort(err as Error)
            if (this.sessions.get(peer) === session) this.sessions.delete(peer)
          })
          return session.tail
        },
      }
      this.sessions.set(peer, session)
      await session.write(this.summary())
    } catch (err) {
      this.log.debug({ peer, err: (err as Error).message }, 'have: could not open a stream to peer')
    } finally {
      this.opening.delete(peer)
    }
  }

  private sendFullToAll(): void {
    if (this.stopped) return
    const connected = this.c.host.connectedPeers()
    for (const peer of connected) if (!this.sessions.has(peer)) void this.open(peer)
    if (this.sessions.size === 0) return
    let message: Uint8Array
    try {
      message = this.summary()
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'have: could not build the summary')
      return
    }
    for (const s of this.sessions.values()) {
      s.deltaDigests = 0
      void s.write(message)
    }
    this.lastLoad = this.load()
  }

  /** Sends what changed since the last flush to every peer, as deltas (or a full summary when a peer had many). */
  private flush(): void {
    if (this.stopped) return
    const add = [...this.pendingAdds]
    const remove = [...this.pendingRemoves]
    this.pendingAdds.clear()
    this.pendingRemoves.clear()
    if (add.length + remove.length === 0 || this.sessions.size === 0) return
    const load = this.load()
    const messages: Uint8Array[] = []
    for (let i = 0, j = 0; i < add.length || j < remove.length; ) {
      const a = add.slice(i, i + MAX_DELTA_DIGESTS)
      const r = remove.slice(j, j + MAX_DELTA_DIGESTS - a.length)
      i += a.length
      j += r.length
      messages.push(encodeHave({ type: 'delta', add: a, remove: r, load }))
    }
    const digests = add.length + remove.length
    for (const s of this.sessions.values()) {
      if (s.deltaDigests + digests > MAX_DELTA_DIGESTS_BEFORE_FULL) {
        s.deltaDigests = 0
        void s.write(this.summary())
        continue
      }
      s.deltaDigests += digests
      for (const m of messages) void s.write(m)
    }
    this.lastLoad = load
  }

  private checkLoad(): void {
    const load = this.load()
    if (load === this.lastLoad || this.sessions.size === 0) return
    this.lastLoad = load
    const message = encodeHave({ type: 'status', labels: this.labels(), load })
    for (const s of this.sessions.values()) void s.write(message)
  }

  // ---- receiving -----------------------------------------------------------

  private forget(peer: string): void {
    this.received.delete(peer)
    const s = this.sessions.get(peer)
    if (s) {
      this.sessions.delete(peer)
      s.stream.abort(new Error('peer disconnected'))
    }
  }

  /** Reads one peer's have stream until it ends; a bad message resets it and penalises the peer. */
  private async receive(stream: Stream, remote: string): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_HAVE_MESSAGE_BYTES })
    let first = true
    try {
      for (;;) {
        const bytes = await lp.read({ signal: AbortSignal.timeout(HAVE_IDLE_TIMEOUT) })
        const msg = decodeHave(bytes.subarray())
        if (first && msg.type !== 'summary') throw new HaveProtocolError(`the first have message must be a summary, not ${msg.type}`)
        first = false
        if (msg.type !== 'summary' && this.received.get(remote)?.stream !== stream) {
          // A message on an older stream the peer has since replaced (or that lost its summary
          // to a disconnect): nothing to apply it to, and no fault of the peer's.
          stream.abort(new Error('superseded have stream'))
          return
        }
        this.apply(remote, stream, msg)
      }
    } catch (err) {
      const e = err as Error
      if (e instanceof HaveProtocolError || FRAMING_ERRORS.has(e.name)) {
        this.log.warn({ peer: remote, err: e.message }, 'have: peer sent an invalid message; stream reset')
        this.c.host.penalties.penalise(remote, 'malformed')
        if (this.received.get(remote)?.stream === stream) this.received.delete(remote)
        stream.abort(e)
        return
      }
      // The peer closed the stream, went away, or went quiet: drop the stream, keep what it said
      // until it disconnects (it reopens a stream with a fresh summary when it can).
      if (stream.status === 'open') stream.abort(e)
    }
  }

  private apply(remote: string, stream: Stream, msg: HaveMessage): void {
    const now = this.now()
    if (msg.type === 'summary') {
      const bytes = new Uint8Array(Buffer.from(msg.bloom.bits, 'base64'))
      if (bytes.length === 0) throw new HaveProtocolError('empty Bloom filter')
      let bloom: BloomFilter
      try {
        bloom = bloomOver(bytes, msg.bloom.hashes)
      } catch (err) {
        throw new HaveProtocolError(`bad Bloom filter: ${(err as Error).message}`)
      }
      this.received.set(remote, {
        stream,
        bloom,
        blobs: msg.blobs,
        adds: new Set(),
        removes: new Set(),
        labels: msg.labels,
        load: msg.load,
        summaryAt: now,
        updatedAt: now,
      })
      return
    }
    const s = this.received.get(remote)
    if (!s) return
    s.load = msg.load
    s.updatedAt = now
    if (msg.type === 'status') {
      s.labels = msg.labels
      return
    }
    for (const sha of msg.add) {
      s.removes.delete(sha)
      s.adds.add(sha)
    }
    for (const sha of msg.remove) {
      s.adds.delete(sha)
      s.removes.add(sha)
    }
    if (s.adds.size + s.removes.size > MAX_PEER_DELTA_DIGESTS) {
      throw new HaveProtocolError(`more than ${MAX_PEER_DELTA_DIGESTS} digests in deltas without a new summary`)
    }
  }
}

function summaryHolds(s: PeerSummary, sha256: string): boolean {
  if (s.adds.has(sha256)) return true
  if (s.removes.has(sha256)) return false
  return s.bloom.has(sha256)
}
