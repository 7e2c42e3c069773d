import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { EventApplier, FormatReplicationHooks, RemoteBlob, ReplicatedState, ReplicationLog, SignedEvent } from '../../store/index.ts'
import type { MeshHost, MeshLogger } from '../host.ts'
import { ChainVerifier } from './chain.ts'
import { createFloodGuard, type FloodGuard, type FloodLimits } from './flood-guard.ts'
import { createLagTracker, type LagTracker, type OriginLag } from './lag.ts'
import {
  ANTI_ENTROPY_INTERVAL,
  APPLY_BATCH_BYTES,
  APPLY_BATCH_EVENTS,
  APPLY_MAX_DELAY,
  LOCAL_CHANGE_POLL_INTERVAL,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_MESSAGE_BYTES,
  MAX_PULL_BYTES,
  MAX_PULL_EVENTS,
  MAX_REQUEST_BYTES,
  SYNC_IDLE_TIMEOUT,
  SYNC_PROTOCOL,
} from './constants.ts'
import { asProtocolError, decode, decodeServerMessage, encode, fromWire, pullRequest, SyncProtocolError, toWire, type WireEvent } from './messages.ts'

/** What the sync service needs from the node. */
export interface SyncComponents {
  host: MeshHost
  /** Where replicated events are applied (store/apply). */
  replicated: ReplicatedState
  log: ReplicationLog
  logger?: MeshLogger
  /** The formats' replication hooks (their index tables follow replicated changes). */
  hooks?: readonly FormatReplicationHooks[]
  /** This node's labels, matched against repositories' replication labels. @default {} */
  labels?: Record<string, string>
  /**
   * Create repositories this node lacks when their events arrive; when false, keep the events
   * until an admin creates the repository. @default true
   */
  autoCreateRepositories?: boolean
  /**
   * Blobs recorded from replicated events without their bytes, with the repository's mode
   * (eager: fetch now; lazy: on first request). Called after the applying transaction commits.
   */
  onRemoteBlobs?: (blobs: RemoteBlob[]) => void
}

export interface SyncInit extends FloodLimits {
  /** @default ANTI_ENTROPY_INTERVAL (5 s) */
  antiEntropyIntervalMs?: number
  /** Most events one pull answers (then the puller pulls again). @default MAX_PULL_EVENTS (20,000) */
  maxPullEvents?: number
  /** Most bytes one pull answers (then the puller pulls again). @default MAX_PULL_BYTES (64 MiB) */
  maxPullBytes?: number
  /** Most verified events the puller applies in one transaction. @default APPLY_BATCH_EVENTS (1,000) */
  applyBatchEvents?: number
}

export interface SyncStats {
  /** Events received and stored since start (duplicates not counted). */
  eventsApplied: number
  /** Events refused: bad signature, impossible sequence, malformed. */
  eventsRejected: number
  pulls: number
  /** Inbound streams reset for exceeding a flood limit (rate, concurrency, pull size). */
  floodResets: number
}

/** Replication-log sync over libp2p: version vectors, bounded batches, verify, apply, relay. */
export interface SyncService {
  start(): Promise<void>
  stop(): void
  /** Pulls what `peerId` has and we lack (single-flight per peer; a request during a pull queues one more). */
  pull(peerId: string): Promise<void>
  stats(): SyncStats
  /** Replication lag per origin (held vs. advertised by connected peers). */
  lag(): OriginLag[]
}

export function createSyncService(components: SyncComponents, init: SyncInit = {}): SyncService {
  return new LogSync(components, init)
}

const NOOP = { info() {}, warn() {}, debug() {} }


class LogSync implements SyncService {
  private readonly logger: MeshLogger
  private readonly applier: EventApplier
  private readonly running = new Map<string, Promise<void>>()
  private readonly again = new Set<string>()
  private readonly counters: SyncStats = { eventsApplied: 0, eventsRejected: 0, pulls: 0, floodResets: 0 }
  private readonly flood: FloodGuard
  private readonly lagTracker: LagTracker = createLagTracker()
  private readonly maxPullEvents: number
  private readonly maxPullBytes: number
  private readonly applyBatchEvents: number
  private timers: NodeJS.Timeout[] = []
  private lastOwnSeq = 0
  private stopped = false

  constructor(
    private readonly c: SyncComponents,
    private readonly init: SyncInit,
  ) {
    this.logger = c.logger ?? NOOP
    this.applier = c.replicated.applier({
      hooks: c.hooks,
      onHookError: (err, what) => this.logger.warn({ err, ...what }, 'a format replication hook failed; its index may lag'),
      onRefused: (what) => this.logger.warn(what, 'a replicated name breaks its format\'s rules; left out'),
      self: { peerId: c.log.origin, labels: c.labels ?? {} },
      autoCreate: c.autoCreateRepositories ?? true,
      onRemoteBlobs: c.onRemoteBlobs,
    })
    this.flood = createFloodGuard(init)
    this.maxPullEvents = init.maxPullEvents ?? MAX_PULL_EVENTS
    this.maxPullBytes = init.maxPullBytes ?? MAX_PULL_BYTES
    this.applyBatchEvents = init.applyBatchEvents ?? APPLY_BATCH_EVENTS
  }

  stats(): SyncStats {
    return { ...this.counters }
  }

  lag(): OriginLag[] {
    return this.lagTracker.report({
      held: this.c.log.versionVector(),
      connected: this.c.host.connectedPeers(),
      self: this.c.log.origin,
      latest: (origin) => this.c.log.latest(origin),
    })
  }

  async start(): Promise<void> {
    const { host } = this.c
    await host.handle(SYNC_PROTOCOL, (stream, remote) => this.serve(stream, remote))
    host.onPeerConnect((peer) => void this.pull(peer))
    this.lastOwnSeq = this.currentOwnSeq()
    const entropy = setInterval(() => {
      for (const peer of host.connectedPeers()) void this.pull(peer)
    }, this.init.antiEntropyIntervalMs ?? ANTI_ENTROPY_INTERVAL)
    const watch = setInterval(() => {
      const seq = this.currentOwnSeq()
      if (seq !== this.lastOwnSeq) {
        this.rematerialiseChanged(this.lastOwnSeq)
        this.lastOwnSeq = seq
        this.notifyPeers(undefined)
      }
    }, LOCAL_CHANGE_POLL_INTERVAL)
    entropy.unref()
    watch.unref()
    this.timers = [entropy, watch]
  }

  stop(): void {
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
  }

  /**
   * Repositories an admin created or reconfigured here since `after`: events other nodes sent
   * for them may be held without being applied (auto-create off, not selected, local-only
   * before): apply what the log holds now.
   */
  private rematerialiseChanged(after: number): void {
    for (const repo of this.c.log.repositoriesChanged(this.c.log.origin, after)) {
      try {
        this.applier.rematerialise(repo)
      } catch (err) {
        this.logger.warn({ repo, err: (err as Error).message }, 'sync: re-applying held events failed')
      }
    }
  }

  private currentOwnSeq(): number {
    return this.c.log.head(this.c.log.origin).seq
  }

  /** Tells every connected peer (but `except`) that we hold new events, so it pulls now. */
  private notifyPeers(except: string | undefined): void {
    for (const peer of this.c.host.connectedPeers()) {
      if (peer === except) continue
      void (async () => {
        const stream = await this.c.host.openStream(peer, SYNC_PROTOCOL, AbortSignal.timeout(SYNC_IDLE_TIMEOUT))
        const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
        await lp.write(encode({ type: 'notify', versionVector: this.c.log.versionVector() }))
        await stream.close()
      })().catch((err: unknown) => this.logger.debug({ peer, err: (err as Error).message }, 'sync notify failed'))
    }
  }

  pull(peerId: string): Promise<void> {
    if (this.stopped) return Promise.resolve()
    const current = this.running.get(peerId)
    if (current) {
      this.again.add(peerId)
      return current
    }
    const run = (async () => {
      try {
        do {
          this.again.delete(peerId)
          await this.pullOnce(peerId)
        } while (this.again.has(peerId) && !this.stopped)
      } finally {
        this.running.delete(peerId)
      }
    })()
    this.running.set(peerId, run)
    return run
  }

  private async pullOnce(peerId: string): Promise<void> {
    this.counters.pulls++
    let stream: Stream | undefined
    let added = 0
    // Verified events not applied yet: several messages go into one transaction (each commit costs
    // an fsync and rewrites the pages it touched), bounded by count, bytes and APPLY_MAX_DELAY.
    let pending: SignedEvent[] = []
    let pendingBytes = 0
    const applyPending = () => {
      if (pending.length === 0) return
      const batch = pending
      pending = []
      pendingBytes = 0
      const n = this.applier.apply(batch)
      added += n
      this.counters.eventsApplied += n
    }
    try {
      stream = await this.c.host.openStream(peerId, SYNC_PROTOCOL, AbortSignal.timeout(SYNC_IDLE_TIMEOUT))
      const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
      const have = this.c.log.versionVector()
      const chains = new ChainVerifier((origin) => this.c.log.head(origin))
      await lp.write(encode({ type: 'pull', versionVector: have }))
      // A server caps its answer (maxPullEvents/maxPullBytes) and may overshoot by one message at most.
      let receivedBytes = 0
      let receivedEvents = 0
      for (;;) {
        const bytes = await readMessage(lp, pending.length > 0 ? applyPending : undefined)
        receivedBytes += bytes.length
        const msg = decodeServerMessage(bytes)
        if (msg.type === 'done') {
          applyPending()
          if (msg.versionVector) {
            this.lagTracker.observe(peerId, msg.versionVector, have)
            // A capped answer: the server holds more than it sent. Pull again (while it helps).
            const behind = Object.entries(msg.versionVector).some(([o, seq]) => seq > (have[o] ?? 0))
            if (behind && added > 0) this.again.add(peerId)
          }
          break
        }
        receivedEvents += msg.events.length
        if (receivedEvents > this.maxPullEvents + MAX_BATCH_EVENTS || receivedBytes > this.maxPullBytes + MAX_MESSAGE_BYTES) {
          throw new SyncProtocolError('pull answer beyond the per-pull limits', 'malformed')
        }
        const fresh: SignedEvent[] = []
        for (const w of msg.events) {
          // Already held (e.g. arrived from another peer meanwhile).
          if (w.seq > (have[w.origin] ?? 0)) fresh.push(fromWire(w))
        }
        // One signature per origin run vouches for the run (hash chain); a bad run keeps its valid prefix.
        const { accepted, error } = chains.verify(fresh)
        for (const e of accepted) {
          have[e.origin] = e.seq
          pending.push(e)
          pendingBytes += e.payload.length
        }
        if (error) throw error
        if (pending.length >= this.applyBatchEvents || pendingBytes >= APPLY_BATCH_BYTES) applyPending()
      }
      await stream.close()
    } catch (caught) {
      // What was verified before the failure is genuine: keep it.
      try {
        applyPending()
      } catch (err) {
        this.logger.warn({ peer: peerId, err: (err as Error).message }, 'sync: applying received events failed')
      }
      const err = asProtocolError(caught)
      if (err instanceof SyncProtocolError) {
        this.counters.eventsRejected++
        this.logger.warn({ peer: peerId, err: err.message }, 'sync: peer sent an invalid message; stream reset')
        this.c.host.penalties.penalise(peerId, err.reason)
      } else {
        this.logger.debug({ peer: peerId, err: (err as Error).message }, 'sync pull failed')
      }
      stream?.abort(err as Error)
    }
    if (added > 0) {
      this.logger.debug({ peer: peerId, events: added }, 'sync: applied events')
      // Relay: our other peers may lack these too (A–B–C: B tells C about A's events).
      this.notifyPeers(peerId)
    }
  }

  /** Answers one inbound stream: a notification (pull back) or a pull (stream what the peer lacks). */
  private async serve(stream: Stream, remote: string): Promise<void> {
    if (!this.flood.open(remote)) {
      this.floodReset(stream, remote, 'too many concurrent sync streams')
      return
    }
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
      const req = decode(pullRequest, (await lp.read({ signal: AbortSignal.timeout(SYNC_IDLE_TIMEOUT) })).subarray())
      if (!this.flood.take(remote, req.type)) throw new FloodLimitError(`more ${req.type} messages per second than allowed`)
      if (req.type === 'notify') {
        await stream.close()
        if (req.versionVector) this.lagTracker.observe(remote, req.versionVector, this.c.log.versionVector())
        void this.pull(remote)
        return
      }
      const out = lp
      let sentBytes = 0
      let sentEvents = 0
      const send = async (message: unknown) => {
        const bytes = encode(message)
        sentBytes += bytes.length
        await out.write(bytes)
      }
      const full = () => sentEvents >= this.maxPullEvents || sentBytes >= this.maxPullBytes
      for (const [origin, seq] of Object.entries(this.c.log.versionVector())) {
        let after = req.versionVector[origin] ?? 0
        while (after < seq && !this.stopped && !full()) {
          const events = this.c.log.sinceSigned(origin, after, Math.min(MAX_BATCH_EVENTS, this.maxPullEvents - sentEvents))
          if (events.length === 0) break
          let batch: WireEvent[] = []
          let bytes = 0
          let unsigned = false
          for (const e of events) {
            const w = toWire(e)
            // An unsigned event (appended before signing existed) cannot be verified by anyone:
            // this origin's stream stops here rather than leave a gap peers would refuse.
            if (!w) {
              unsigned = true
              break
            }
            const size = w.payload.length + 512
            if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) {
              await send({ type: 'events', events: batch })
              batch = []
              bytes = 0
              if (full()) break
            }
            batch.push(w)
            bytes += size
            sentEvents++
            after = e.seq
          }
          if (batch.length > 0) await send({ type: 'events', events: batch })
          if (unsigned) break
        }
        if (full()) break
      }
      // Our vector tells the puller what exists: still behind after a capped answer, it pulls again.
      await out.write(encode({ type: 'done', versionVector: this.c.log.versionVector() }))
      await stream.close()
    } catch (caught) {
      const err = asProtocolError(caught)
      if (err instanceof FloodLimitError) {
        this.floodReset(stream, remote, err.message)
        return
      }
      if (err instanceof SyncProtocolError) {
        this.logger.warn({ peer: remote, err: err.message }, 'sync: peer sent an invalid request; stream reset')
        this.c.host.penalties.penalise(remote, err.reason)
      }
      stream.abort(err as Error)
    } finally {
      this.flood.close(remote)
    }
  }

  /** Resets a stream of a peer past a flood limit and penalises the peer (banned past the threshold). */
  private floodReset(stream: Stream, remote: string, why: string): void {
    this.counters.floodResets++
    this.logger.warn({ peer: remote, err: why }, 'sync: peer exceeded a flood limit; stream reset')
    this.c.host.penalties.penalise(remote, 'malformed')
    stream.abort(new FloodLimitError(why))
  }
}

/**
 * Reads the next message. With `onPause`, calls it when no message arrived within APPLY_MAX_DELAY
 * (the puller applies what it holds instead of letting it wait for the rest of a slow stream).
 */
async function readMessage(lp: { read(options: { signal: AbortSignal }): Promise<{ subarray(): Uint8Array }> }, onPause?: () => void): Promise<Uint8Array> {
  const reading = lp.read({ signal: AbortSignal.timeout(SYNC_IDLE_TIMEOUT) })
  if (onPause) {
    let timer: NodeJS.Timeout | undefined
    const paused = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), APPLY_MAX_DELAY)
    })
    const arrived = await Promise.race([reading.then(() => true, () => true), paused])
    clearTimeout(timer)
    if (!arrived) onPause()
  }
  return (await reading).subarray()
}

/** A peer past one of the per-peer flood limits (rate, concurrent streams, pull size). */
class FloodLimitError extends Error {
  override readonly name = 'FloodLimitError'
}

