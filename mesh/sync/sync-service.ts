import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { signingBytes, type Db, type ReplicationLog, type SignedEvent } from '../../store/index.ts'
import type { MeshHost, MeshLogger } from '../host.ts'
import { verifyBy } from '../signing.ts'
import { createEventApplier, type EventApplier } from './apply.ts'
import {
  ANTI_ENTROPY_INTERVAL,
  LOCAL_CHANGE_POLL_INTERVAL,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_MESSAGE_BYTES,
  MAX_REQUEST_BYTES,
  SYNC_IDLE_TIMEOUT,
  SYNC_PROTOCOL,
} from './constants.ts'
import { decode, encode, fromWire, pullRequest, serverMessage, SyncProtocolError, toWire, type WireEvent } from './messages.ts'

/** What the sync service needs from the node. */
export interface SyncComponents {
  host: MeshHost
  db: Db
  log: ReplicationLog
  logger?: MeshLogger
}

export interface SyncInit {
  /** @default ANTI_ENTROPY_INTERVAL (5 s) */
  antiEntropyIntervalMs?: number
}

export interface SyncStats {
  /** Events received and stored since start (duplicates not counted). */
  eventsApplied: number
  /** Events refused: bad signature, impossible sequence, malformed. */
  eventsRejected: number
  pulls: number
}

/** Replication-log sync over libp2p: version vectors, bounded batches, verify, apply, relay. */
export interface SyncService {
  start(): Promise<void>
  stop(): void
  /** Pulls what `peerId` has and we lack (single-flight per peer; a request during a pull queues one more). */
  pull(peerId: string): Promise<void>
  stats(): SyncStats
}

export function createSyncService(components: SyncComponents, init: SyncInit = {}): SyncService {
  return new LogSync(components, init)
}

const NOOP = { info() {}, warn() {}, debug() {} }

/** Checks one received event: signed by its origin, and exactly the next sequence number of that origin. */
export function verifyEvent(e: SignedEvent, expectedSeq: number): void {
  if (!e.signature || !verifyBy(e.origin, signingBytes(e), e.signature)) {
    throw new SyncProtocolError(`event ${e.origin}#${e.seq} has a bad signature`, 'forged')
  }
  if (e.seq !== expectedSeq) throw new SyncProtocolError(`event ${e.origin}#${e.seq} out of order (expected #${expectedSeq})`, 'malformed')
}

class LogSync implements SyncService {
  private readonly logger: MeshLogger
  private readonly applier: EventApplier
  private readonly running = new Map<string, Promise<void>>()
  private readonly again = new Set<string>()
  private readonly counters: SyncStats = { eventsApplied: 0, eventsRejected: 0, pulls: 0 }
  private timers: NodeJS.Timeout[] = []
  private lastOwnSeq = 0
  private stopped = false
  private readonly ownSeq

  constructor(
    private readonly c: SyncComponents,
    private readonly init: SyncInit,
  ) {
    this.logger = c.logger ?? NOOP
    this.applier = createEventApplier(c.db, c.log)
    this.ownSeq = c.db.prepare('SELECT seq FROM events WHERE origin = ? ORDER BY seq DESC LIMIT 1')
  }

  stats(): SyncStats {
    return { ...this.counters }
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

  private currentOwnSeq(): number {
    return (this.ownSeq.get(this.c.log.origin) as { seq: number } | undefined)?.seq ?? 0
  }

  /** Tells every connected peer (but `except`) that we hold new events, so it pulls now. */
  private notifyPeers(except: string | undefined): void {
    for (const peer of this.c.host.connectedPeers()) {
      if (peer === except) continue
      void (async () => {
        const stream = await this.c.host.openStream(peer, SYNC_PROTOCOL, AbortSignal.timeout(SYNC_IDLE_TIMEOUT))
        const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
        await lp.write(encode({ type: 'notify' }))
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
    try {
      stream = await this.c.host.openStream(peerId, SYNC_PROTOCOL, AbortSignal.timeout(SYNC_IDLE_TIMEOUT))
      const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
      const have = this.c.log.versionVector()
      await lp.write(encode({ type: 'pull', versionVector: have }))
      for (;;) {
        const msg = decode(serverMessage, (await lp.read({ signal: AbortSignal.timeout(SYNC_IDLE_TIMEOUT) })).subarray())
        if (msg.type === 'done') break
        const batch: SignedEvent[] = []
        for (const w of msg.events) {
          const e = fromWire(w)
          const held = have[e.origin] ?? 0
          if (e.seq <= held) continue // already held (e.g. arrived from another peer meanwhile)
          verifyEvent(e, held + 1)
          have[e.origin] = e.seq
          batch.push(e)
        }
        const n = this.applier.apply(batch)
        added += n
        this.counters.eventsApplied += n
      }
      await stream.close()
    } catch (err) {
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
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
      const req = decode(pullRequest, (await lp.read({ signal: AbortSignal.timeout(SYNC_IDLE_TIMEOUT) })).subarray())
      if (req.type === 'notify') {
        await stream.close()
        void this.pull(remote)
        return
      }
      const out = lp
      for (const [origin, seq] of Object.entries(this.c.log.versionVector())) {
        let after = req.versionVector[origin] ?? 0
        while (after < seq && !this.stopped) {
          const events = this.c.log.sinceSigned(origin, after, MAX_BATCH_EVENTS)
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
              await out.write(encode({ type: 'events', events: batch }))
              batch = []
              bytes = 0
            }
            batch.push(w)
            bytes += size
            after = e.seq
          }
          if (batch.length > 0) await out.write(encode({ type: 'events', events: batch }))
          if (unsigned) break
        }
      }
      await out.write(encode({ type: 'done' }))
      await stream.close()
    } catch (err) {
      if (err instanceof SyncProtocolError) {
        this.logger.warn({ peer: remote, err: err.message }, 'sync: peer sent an invalid request; stream reset')
        this.c.host.penalties.penalise(remote, err.reason)
      }
      stream.abort(err as Error)
    }
  }
}
