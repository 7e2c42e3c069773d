import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { SourceError, type ChunkManifest, type ChunkSource, type HaveMap } from '../../scheduler/index.ts'
import type { MeshHost } from '../host.ts'
import { CHUNK_IDLE_TIMEOUT, CHUNK_PROTOCOL, MAX_CHUNK_BYTES, MAX_CHUNK_RESPONSE_BYTES, POOL_IDLE, POOL_SIZE } from './constants.ts'
import {
  ChunkProtocolError,
  chunkResponse,
  decode,
  encode,
  haveFromWire,
  haveResponse,
  infoOrError,
  manifestFromWire,
  manifestResponse,
  type ChunkRequest,
  type InfoResponse,
} from './messages.ts'

export interface Libp2pChunkSourceInit {
  /** Each response frame must arrive within this. @default CHUNK_IDLE_TIMEOUT (15 s) */
  idleTimeoutMs?: number
}

/** Largest frame a client accepts: a manifest or one chunk, plus room for the length prefix. */
const MAX_FRAME = Math.max(MAX_CHUNK_RESPONSE_BYTES, MAX_CHUNK_BYTES)

/** A stream kept for the next request to the same peer. */
interface PooledStream {
  stream: Stream
  lp: LengthPrefixedStream<Stream>
  idleSince: number
}

/**
 * A mesh peer as a chunk source over '/ak/chunk/1.0.0'. Requests run on a small pool of streams
 * reused one request after another: opening a stream per chunk cost about as much as the chunk
 * itself (docs/swarm.md, Transports, has the measurements).
 */
export function createLibp2pChunkSource(host: MeshHost, peerId: string, init: Libp2pChunkSourceInit = {}): ChunkSource {
  return new Libp2pChunkSource(host, peerId, init.idleTimeoutMs ?? CHUNK_IDLE_TIMEOUT)
}

/** Asks a peer for its chunk-serving info: HTTP URL (if it serves chunks over HTTP) and load. */
export async function fetchPeerChunkInfo(host: MeshHost, peerId: string, signal: AbortSignal): Promise<InfoResponse> {
  const source = new Libp2pChunkSource(host, peerId, CHUNK_IDLE_TIMEOUT)
  return source.info(signal)
}

class Libp2pChunkSource implements ChunkSource {
  readonly id: string
  readonly kind = 'libp2p' as const

  constructor(
    private readonly host: MeshHost,
    readonly peerId: string,
    private readonly idleMs: number,
  ) {
    this.id = `libp2p:${peerId}`
  }

  /** Streams kept open between requests (most recently used last). */
  private readonly pool: PooledStream[] = []
  private sweeper: NodeJS.Timeout | undefined

  private async open(signal: AbortSignal): Promise<PooledStream> {
    let stream: Stream
    try {
      stream = await this.host.openStream(this.peerId, CHUNK_PROTOCOL, AbortSignal.any([signal, AbortSignal.timeout(this.idleMs)]))
    } catch (err) {
      if (signal.aborted) throw signal.reason
      throw new SourceError(`cannot open a chunk stream to ${this.peerId}: ${(err as Error).message}`, 'gone')
    }
    return { stream, lp: lpStream(stream, { maxDataLength: MAX_FRAME, maxBufferSize: MAX_FRAME + 64 * 1024 }), idleSince: 0 }
  }

  /** An open pooled stream idle for less than POOL_IDLE, if any (stale ones are closed). */
  private take(): PooledStream | undefined {
    for (;;) {
      const s = this.pool.pop()
      if (!s) return undefined
      if (s.stream.status === 'open' && s.stream.remoteWriteStatus === 'writable' && Date.now() - s.idleSince < POOL_IDLE) return s
      s.stream.abort(new Error('stale pooled stream'))
    }
  }

  private give(s: PooledStream): void {
    if (this.pool.length >= POOL_SIZE || s.stream.status !== 'open') {
      void s.stream.close({ signal: AbortSignal.timeout(this.idleMs) }).catch(() => s.stream.abort(new Error('close failed')))
      return
    }
    s.idleSince = Date.now()
    this.pool.push(s)
    if (!this.sweeper) {
      // Close streams left idle (the download ended): the peer would time them out anyway.
      this.sweeper = setInterval(() => {
        const now = Date.now()
        for (let i = this.pool.length - 1; i >= 0; i--) {
          const p = this.pool[i] as PooledStream
          if (now - p.idleSince >= POOL_IDLE) {
            this.pool.splice(i, 1)
            void p.stream.close({ signal: AbortSignal.timeout(this.idleMs) }).catch(() => p.stream.abort(new Error('close failed')))
          }
        }
        if (this.pool.length === 0) {
          clearInterval(this.sweeper)
          this.sweeper = undefined
        }
      }, POOL_IDLE)
      this.sweeper.unref()
    }
  }

  /**
   * Runs one request on a pooled (or new) stream; maps every failure to a SourceError (or the
   * caller's abort). A reused stream the peer had already dropped is retried once on a new one.
   */
  private async exchange<T>(req: ChunkRequest, signal: AbortSignal, body: (frame: () => Promise<Uint8Array>) => Promise<T>): Promise<T> {
    const pooled = this.take()
    const s = pooled ?? (await this.open(signal))
    const frame = async () => (await s.lp.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(this.idleMs)]) })).subarray()
    let answered = false
    try {
      await s.lp.write(encode(req), { signal: AbortSignal.any([signal, AbortSignal.timeout(this.idleMs)]) })
      const result = await body(async () => {
        const f = await frame()
        answered = true
        return f
      })
      this.give(s)
      return result
    } catch (err) {
      // A refusal (busy, missing) is a whole answer: the stream is still in step and reusable.
      if (err instanceof SourceError && err.reason === 'refused' && answered) {
        this.give(s)
        throw err
      }
      s.stream.abort(err instanceof Error ? err : new Error(String(err)))
      if (signal.aborted) throw signal.reason
      const failure = this.failure(err)
      if (pooled && !answered && failure.reason === 'gone') return this.exchange(req, signal, body)
      throw failure
    }
  }

  private failure(err: unknown): SourceError {
    if (err instanceof SourceError) return err
    const e = err as Error
    if (err instanceof ChunkProtocolError || /DataLength|MessageLength|StreamBuffer/.test(e?.name ?? '')) {
      // The peer answered outside the protocol: the same penalty it would get from us as a server.
      this.host.penalties.penalise(this.peerId, 'malformed')
      return new SourceError(`peer ${this.peerId} broke the chunk protocol: ${e.message}`, 'error')
    }
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new SourceError(`peer ${this.peerId} went silent`, 'timeout')
    if (/reset|closed|EOF/i.test(e?.message ?? '') || /EOF|Reset|Closed/.test(e?.name ?? '')) {
      return new SourceError(`peer ${this.peerId} dropped the stream: ${e.message}`, 'gone')
    }
    return new SourceError(`chunk request to ${this.peerId} failed: ${e?.message}`, 'error')
  }

  private static busy(peerId: string, r: { type: string; message?: string }): never {
    throw new SourceError(`peer ${peerId} is busy: ${r.message ?? ''}`, 'refused')
  }

  info(signal: AbortSignal): Promise<InfoResponse> {
    return this.exchange({ type: 'info' }, signal, async (frame) => {
      const r = decode(infoOrError, await frame())
      if (r.type === 'error') Libp2pChunkSource.busy(this.peerId, r)
      return r
    })
  }

  have(sha256: string, signal: AbortSignal): Promise<HaveMap | undefined> {
    return this.exchange({ type: 'have', sha256 }, signal, async (frame) => {
      const r = decode(haveResponse, await frame())
      if (r.type === 'error') Libp2pChunkSource.busy(this.peerId, r)
      return haveFromWire(r.have)
    })
  }

  manifest(sha256: string, signal: AbortSignal): Promise<ChunkManifest | undefined> {
    return this.exchange({ type: 'manifest', sha256 }, signal, async (frame) => {
      const r = decode(manifestResponse, await frame())
      if (r.type === 'error') Libp2pChunkSource.busy(this.peerId, r)
      return r.manifest ? manifestFromWire(r.manifest, sha256) : undefined
    })
  }

  fetchChunk(sha256: string, index: number, signal: AbortSignal): Promise<Uint8Array> {
    return this.exchange({ type: 'chunk', sha256, index }, signal, async (frame) => {
      const r = decode(chunkResponse, await frame())
      if (r.type === 'error') Libp2pChunkSource.busy(this.peerId, r)
      if (r.type === 'missing') throw new SourceError(`peer ${this.peerId} does not hold chunk ${index} of ${sha256}`, 'refused')
      const bytes = await frame()
      if (bytes.length !== r.length) throw new ChunkProtocolError(`chunk frame has ${bytes.length} bytes, announced ${r.length}`)
      return bytes
    })
  }

  watchHave(sha256: string, listener: (have: HaveMap) => void, signal: AbortSignal): void {
    void this.runWatch(sha256, listener, signal).catch(() => {
      // A watch is best effort: the scheduler also re-asks have() during a download.
    })
  }

  private async runWatch(sha256: string, listener: (have: HaveMap) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    const stream = await this.host.openStream(this.peerId, CHUNK_PROTOCOL, AbortSignal.any([signal, AbortSignal.timeout(this.idleMs)]))
    const lp = lpStream(stream, { maxDataLength: MAX_CHUNK_RESPONSE_BYTES, maxBufferSize: MAX_CHUNK_RESPONSE_BYTES + 64 * 1024 })
    const stop = () => void stream.close({ signal: AbortSignal.timeout(this.idleMs) }).catch(() => stream.abort(new Error('watch ended')))
    signal.addEventListener('abort', stop, { once: true })
    try {
      await lp.write(encode({ type: 'watch', sha256 }), { signal })
      for (;;) {
        // No idle timeout here: a holder that verifies nothing new for a while sends nothing.
        const frame = await lp.read({ signal })
        const r = decode(haveResponse, frame.subarray())
        if (r.type === 'error') return
        const have = haveFromWire(r.have)
        if (have !== undefined) listener(have)
        if (have === 'all') return
      }
    } catch (err) {
      if (err instanceof ChunkProtocolError) this.host.penalties.penalise(this.peerId, 'malformed')
      if (!signal.aborted) stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      signal.removeEventListener('abort', stop)
      if (stream.status === 'open') stop()
    }
  }
}
