import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { HaveMap, LocalChunks } from '../../scheduler/index.ts'
import type { MeshHost, MeshLogger } from '../host.ts'
import {
  CHUNK_IDLE_TIMEOUT,
  CHUNK_PROTOCOL,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_IN_FLIGHT_PER_PEER,
  DEFAULT_MAX_WATCHES_PER_PEER,
  MAX_CHUNK_REQUEST_BYTES,
  MAX_WATCH_BACKLOG,
} from './constants.ts'
import { ChunkProtocolError, chunkLength, chunkRequest, decode, encode, haveToWire, manifestToWire, type ChunkRequest } from './messages.ts'

/** What the chunk service needs from the node. */
export interface ChunkServiceComponents {
  host: MeshHost
  /** What this node holds (complete blobs and partial downloads). */
  local: LocalChunks
  logger?: MeshLogger
}

export interface ChunkServiceInit {
  /** This node's HTTP URL for the HTTP chunk transport, advertised in `info`. @default none (libp2p only) */
  httpUrl?: () => string | undefined
  /** @default DEFAULT_MAX_IN_FLIGHT (64) */
  maxInFlight?: number
  /** @default DEFAULT_MAX_IN_FLIGHT_PER_PEER (16) */
  maxInFlightPerPeer?: number
  /** @default DEFAULT_MAX_WATCHES_PER_PEER (8) */
  maxWatchesPerPeer?: number
  /** @default CHUNK_IDLE_TIMEOUT (15 s) */
  idleTimeoutMs?: number
}

export interface ChunkServiceStats {
  /** Requests answered (any outcome) since start. */
  requests: number
  /** Chunk bytes sent since start. */
  bytesSent: number
  /** Requests refused because a concurrency cap was reached. */
  busy: number
  /** Requests that broke the protocol (stream reset, peer penalised). */
  malformed: number
}

/** Serves '/ak/chunk/1.0.0' from the node's LocalChunks. */
export interface ChunkService {
  start(): Promise<void>
  /** Ends every open watch; new streams are refused. */
  stop(): void
  /** Requests (have, manifest, chunk) being served right now: the load this node advertises. */
  inFlight(): number
  /** The cap on inFlight(); a request past it is answered `busy`. */
  maxInFlight(): number
  stats(): ChunkServiceStats
}

export function createChunkService(components: ChunkServiceComponents, init: ChunkServiceInit = {}): ChunkService {
  return new Libp2pChunkService(components, init)
}

const NOOP: MeshLogger = { info() {}, warn() {}, debug() {} }

class Libp2pChunkService implements ChunkService {
  private readonly logger: MeshLogger
  private readonly maxTotal: number
  private readonly maxPerPeer: number
  private readonly maxWatches: number
  private readonly idleMs: number
  private total = 0
  private readonly perPeer = new Map<string, number>()
  /** Per peer, the `end` callbacks of its open watches. */
  private readonly watches = new Map<string, Set<() => void>>()
  private readonly counters: ChunkServiceStats = { requests: 0, bytesSent: 0, busy: 0, malformed: 0 }
  private stopped = false

  constructor(
    private readonly c: ChunkServiceComponents,
    private readonly init: ChunkServiceInit,
  ) {
    this.logger = c.logger ?? NOOP
    this.maxTotal = init.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    this.maxPerPeer = init.maxInFlightPerPeer ?? DEFAULT_MAX_IN_FLIGHT_PER_PEER
    this.maxWatches = init.maxWatchesPerPeer ?? DEFAULT_MAX_WATCHES_PER_PEER
    this.idleMs = init.idleTimeoutMs ?? CHUNK_IDLE_TIMEOUT
  }

  async start(): Promise<void> {
    await this.c.host.handle(CHUNK_PROTOCOL, (stream, remote) => this.serve(stream, remote))
  }

  stop(): void {
    this.stopped = true
    for (const set of this.watches.values()) for (const end of set) end()
    this.watches.clear()
  }

  inFlight(): number {
    return this.total
  }

  maxInFlight(): number {
    return this.maxTotal
  }

  stats(): ChunkServiceStats {
    return { ...this.counters }
  }

  private timeout(): AbortSignal {
    return AbortSignal.timeout(this.idleMs)
  }

  /**
   * Answers the requests of one stream in turn until the peer closes its side: a requester keeps
   * a few streams open and reuses them, which saves a stream setup (and a yamux window ramp-up)
   * per chunk. A watch takes the stream over until it ends.
   */
  private async serve(stream: Stream, remote: string): Promise<void> {
    if (this.stopped) {
      stream.abort(new Error('chunk service stopped'))
      return
    }
    // A small read buffer: a request is one tiny frame, and a peer has nothing else to send.
    const lp = lpStream(stream, { maxDataLength: MAX_CHUNK_REQUEST_BYTES, maxBufferSize: 16 * MAX_CHUNK_REQUEST_BYTES })
    for (let first = true; !this.stopped; first = false) {
      let req: ChunkRequest
      try {
        const frame = await lp.read({ signal: this.timeout() })
        req = decode(chunkRequest, frame.subarray())
      } catch (err) {
        // The peer closed its side between requests: a clean end of a reused stream.
        if (!first && stream.remoteWriteStatus !== 'writable' && stream.readBufferLength === 0) {
          await stream.close({ signal: this.timeout() }).catch(() => stream.abort(new Error('close failed')))
          return
        }
        this.refuse(stream, remote, err)
        return
      }
      this.counters.requests++
      try {
        if (req.type === 'watch') {
          await this.watch(stream, lp, remote, req.sha256)
          return
        }
        await this.one(lp, remote, req)
      } catch (err) {
        this.refuse(stream, remote, err)
        return
      }
    }
    stream.abort(new Error('chunk service stopped'))
  }

  /** One request of a stream, within the concurrency caps. */
  private async one(lp: LengthPrefixedStream<Stream>, remote: string, req: Exclude<ChunkRequest, { type: 'watch' }>): Promise<void> {
    if (req.type === 'info') {
      await this.answer(lp, { type: 'info', httpUrl: this.init.httpUrl?.() ?? null, inFlight: this.total, maxInFlight: this.maxTotal })
      return
    }
    const mine = this.perPeer.get(remote) ?? 0
    if (this.total >= this.maxTotal || mine >= this.maxPerPeer) {
      this.counters.busy++
      await this.answer(lp, { type: 'error', code: 'busy', message: `serving ${this.total} requests (${mine} for you); try later` })
      return
    }
    this.total++
    this.perPeer.set(remote, mine + 1)
    try {
      await this.request(lp, req)
    } finally {
      this.total--
      const left = (this.perPeer.get(remote) ?? 1) - 1
      if (left > 0) this.perPeer.set(remote, left)
      else this.perPeer.delete(remote)
    }
  }

  /** Resets the stream; a protocol violation also costs the peer penalty points. */
  private refuse(stream: Stream, remote: string, err: unknown): void {
    const e = err as Error
    // An oversized frame (InvalidDataLengthError…) or unparsable request is the peer's doing.
    const hostile = e instanceof ChunkProtocolError || /DataLength|MessageLength|StreamBuffer/.test(e?.name ?? '')
    if (hostile) {
      this.counters.malformed++
      this.logger.warn({ peer: remote, err: e.message }, 'chunk: peer sent an invalid request; stream reset')
      this.c.host.penalties.penalise(remote, 'malformed')
    } else {
      this.logger.debug({ peer: remote, err: e?.message }, 'chunk request failed')
    }
    stream.abort(e instanceof Error ? e : new Error(String(err)))
  }

  private async answer(lp: LengthPrefixedStream<Stream>, message: unknown): Promise<void> {
    await lp.write(encode(message), { signal: this.timeout() })
  }

  private async request(lp: LengthPrefixedStream<Stream>, req: Exclude<ChunkRequest, { type: 'watch' | 'info' }>): Promise<void> {
    const { local } = this.c
    if (req.type === 'have') {
      await this.answer(lp, { type: 'have', have: haveToWire(local.have(req.sha256)) })
      return
    }
    const manifest = local.manifest(req.sha256)
    if (req.type === 'manifest') {
      await this.answer(lp, { type: 'manifest', manifest: manifest ? manifestToWire(manifest) : null })
      return
    }
    if (!manifest) {
      await this.answer(lp, { type: 'missing' })
      return
    }
    const length = chunkLength(manifest, req.index)
    if (length < 0) throw new ChunkProtocolError(`chunk ${req.index} is outside ${req.sha256} (${manifest.chunks.length} chunks)`)
    const bytes = await local.readChunk(req.sha256, req.index)
    if (!bytes) {
      await this.answer(lp, { type: 'missing' })
      return
    }
    if (bytes.length !== length) throw new Error(`local chunk ${req.sha256}#${req.index} has ${bytes.length} bytes, expected ${length}`)
    await this.answer(lp, { type: 'chunk', length })
    await lp.write(bytes, { signal: this.timeout() })
    this.counters.bytesSent += length
  }

  /** Pushes the have-map now and whenever it changes, until the peer closes the stream (or we stop). */
  private async watch(stream: Stream, lp: LengthPrefixedStream<Stream>, remote: string, sha256: string): Promise<void> {
    const open = this.watches.get(remote) ?? new Set<() => void>()
    if (open.size >= this.maxWatches) {
      this.counters.busy++
      await this.answer(lp, { type: 'error', code: 'busy', message: `you already watch ${open.size} blobs here` })
      await stream.close({ signal: this.timeout() })
      return
    }
    let pending: HaveMap[] = []
    let wake: (() => void) | undefined
    let ended = false
    const end = () => {
      ended = true
      wake?.()
    }
    open.add(end)
    this.watches.set(remote, open)
    const unsubscribe = this.c.local.onHaveChange((digest, have) => {
      if (digest !== sha256 || ended) return
      // A slow watcher only needs the newest map: each one contains the ones before.
      if (pending.length >= MAX_WATCH_BACKLOG) pending = []
      pending.push(have)
      wake?.()
    })
    stream.addEventListener('remoteCloseWrite', end)
    stream.addEventListener('close', end)
    try {
      await this.answer(lp, { type: 'have', have: haveToWire(this.c.local.have(sha256)) })
      while (!ended && !this.stopped) {
        if (pending.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve))
          wake = undefined
          continue
        }
        const next = pending[pending.length - 1] as HaveMap
        pending = []
        await this.answer(lp, { type: 'have', have: haveToWire(next) })
        if (next === 'all') break
      }
      if (stream.status === 'open') await stream.close({ signal: this.timeout() })
    } finally {
      unsubscribe()
      stream.removeEventListener('remoteCloseWrite', end)
      stream.removeEventListener('close', end)
      open.delete(end)
      if (open.size === 0) this.watches.delete(remote)
    }
  }
}
