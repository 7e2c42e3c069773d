/*
 * '/ak/probe/1.0.0': an active bandwidth probe, so the swarm has a throughput estimate for a
 * peer before the first real download from it.
 *
 * Wire: the prober sends the number of bytes it wants (uint32, big-endian). The server answers
 * one status byte (PROBE_OK, or PROBE_BUSY when the per-peer rate limit or the global
 * concurrency cap refuses it), then the number of bytes that follow (uint32 BE, at most
 * MAX_PROBE_BYTES whatever was asked), then that many zero bytes, and closes. The prober times
 * the exchange from its request to the last byte, like a real chunk request.
 */
import { byteStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { MeshHost, MeshLogger } from '../host.ts'
import { MAX_CONCURRENT_PROBES, MAX_PROBE_BYTES, PROBE_MIN_INTERVAL, PROBE_PROTOCOL, PROBE_TIMEOUT, PROBE_WRITE_SIZE } from './constants.ts'

export const PROBE_OK = 0
export const PROBE_BUSY = 1

/** The probe was refused or broke off. */
export class ProbeError extends Error {
  override readonly name = 'ProbeError'
  constructor(
    message: string,
    /** 'refused': the server is rate-limiting us; 'error': anything else. */
    readonly reason: 'refused' | 'error',
  ) {
    super(message)
  }
}

export interface ProbeResult {
  bytes: number
  ms: number
  bytesPerSecond: number
}

/**
 * Who may be served a probe now: one per peer per `minIntervalMs`, at most `maxConcurrent` at once.
 * Pure bookkeeping (the clock is injected), so it is unit-tested directly.
 */
export class ProbeLimiter {
  private readonly lastServed = new Map<string, number>()
  private running = 0

  constructor(
    private readonly minIntervalMs = PROBE_MIN_INTERVAL,
    private readonly maxConcurrent = MAX_CONCURRENT_PROBES,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a slot for `peerId`, or answers false. A taken slot is given back with release(). */
  acquire(peerId: string): boolean {
    const t = this.now()
    const last = this.lastServed.get(peerId)
    if (last !== undefined && t - last < this.minIntervalMs) return false
    if (this.running >= this.maxConcurrent) return false
    this.running++
    this.lastServed.set(peerId, t)
    // Forget peers whose interval is long over, so the map stays as small as the active set.
    if (this.lastServed.size > 1024) for (const [p, at] of this.lastServed) if (t - at >= this.minIntervalMs) this.lastServed.delete(p)
    return true
  }

  release(): void {
    this.running = Math.max(0, this.running - 1)
  }
}

function header(status: number, bytes: number): Uint8Array {
  const b = new Uint8Array(5)
  b[0] = status
  new DataView(b.buffer).setUint32(1, bytes)
  return b
}

/** Serves probes on `host`. */
export async function serveProbes(host: MeshHost, limiter: ProbeLimiter, logger: MeshLogger): Promise<void> {
  const zeros = new Uint8Array(PROBE_WRITE_SIZE)
  await host.handle(PROBE_PROTOCOL, async (stream: Stream, remote: string) => {
    const bs = byteStream(stream)
    const signal = AbortSignal.timeout(PROBE_TIMEOUT)
    let acquired = false
    try {
      const req = await bs.read({ bytes: 4, signal })
      const asked = req.getUint32(0)
      if (!limiter.acquire(remote)) {
        await bs.write(header(PROBE_BUSY, 0), { signal })
        await stream.close({ signal })
        return
      }
      acquired = true
      const size = Math.min(Math.max(asked, 1), MAX_PROBE_BYTES)
      await bs.write(header(PROBE_OK, size), { signal })
      for (let sent = 0; sent < size; ) {
        const n = Math.min(PROBE_WRITE_SIZE, size - sent)
        await bs.write(n === zeros.byteLength ? zeros : zeros.subarray(0, n), { signal })
        sent += n
      }
      await stream.close({ signal })
    } catch (err) {
      logger.debug({ peer: remote, err: (err as Error).message }, 'probe: serving failed')
      stream.abort(err as Error)
    } finally {
      if (acquired) limiter.release()
    }
  })
}

/** Asks `peerId` for `bytes` bytes and times them. Rejects with a ProbeError. */
export async function runProbe(host: MeshHost, peerId: string, bytes: number, signal?: AbortSignal): Promise<ProbeResult> {
  const deadline = AbortSignal.timeout(PROBE_TIMEOUT)
  const s = signal ? AbortSignal.any([signal, deadline]) : deadline
  let stream: Stream | undefined
  try {
    stream = await host.openStream(peerId, PROBE_PROTOCOL, s)
    const bs = byteStream(stream)
    const request = new Uint8Array(4)
    new DataView(request.buffer).setUint32(0, Math.min(Math.max(Math.floor(bytes), 1), MAX_PROBE_BYTES))
    const t0 = performance.now()
    await bs.write(request, { signal: s })
    const head = await bs.read({ bytes: 5, signal: s })
    if (head.get(0) === PROBE_BUSY) throw new ProbeError(`peer ${peerId} refused the probe (rate limit)`, 'refused')
    if (head.get(0) !== PROBE_OK) throw new ProbeError(`peer ${peerId} answered an unknown probe status ${head.get(0)}`, 'error')
    const size = head.getUint32(1)
    if (size > MAX_PROBE_BYTES) throw new ProbeError(`peer ${peerId} announced an oversized probe (${size} bytes)`, 'error')
    let received = 0
    while (received < size) {
      const chunk = await bs.read({ signal: s })
      if (chunk === null) break
      received += chunk.byteLength
    }
    const ms = performance.now() - t0
    if (received !== size) throw new ProbeError(`probe from ${peerId} ended after ${received} of ${size} bytes`, 'error')
    await stream.close({ signal: s })
    return { bytes: received, ms, bytesPerSecond: (received * 1000) / Math.max(ms, 1e-3) }
  } catch (err) {
    stream?.abort(err as Error)
    if (err instanceof ProbeError) throw err
    throw new ProbeError(`probe of ${peerId} failed: ${(err as Error).message}`, 'error')
  }
}
