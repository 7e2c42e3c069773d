/*
 * Per-peer flood limits for the sync protocol (issue 4, part 9): inbound notifications and pulls
 * per second (token buckets), concurrent inbound sync streams. A peer past a limit gets its
 * stream reset and a penalty (mesh/penalties.ts); everyone else is served as before.
 */

export interface FloodLimits {
  /** Sustained notifications per second accepted from one peer. @default NOTIFY_RATE (20) */
  notifiesPerSecond?: number
  /** Notifications one peer may send at once before the rate applies. @default NOTIFY_BURST (50) */
  notifyBurst?: number
  /** Sustained pull requests per second served to one peer. @default PULL_RATE (10) */
  pullsPerSecond?: number
  /** @default PULL_BURST (30) */
  pullBurst?: number
  /** Inbound sync streams one peer may have open at once. @default MAX_STREAMS_PER_PEER (8) */
  maxStreamsPerPeer?: number
}

export const NOTIFY_RATE = 20
export const NOTIFY_BURST = 50
export const PULL_RATE = 10
export const PULL_BURST = 30
export const MAX_STREAMS_PER_PEER = 8
/** Peers tracked at most (buckets of long-gone peers are dropped first). */
const MAX_TRACKED_PEERS = 4096

export type FloodKind = 'notify' | 'pull'

export interface FloodGuard {
  /** Takes one token of `kind` for `peer`; false when the peer is past its rate. */
  take(peer: string, kind: FloodKind): boolean
  /** Registers an inbound stream; false (and nothing registered) when the peer has too many open. */
  open(peer: string): boolean
  /** The end of a stream `open` accepted. */
  close(peer: string): void
}

interface Bucket {
  tokens: number
  at: number
}

export function createFloodGuard(limits: FloodLimits = {}, now: () => number = Date.now): FloodGuard {
  const rate = { notify: limits.notifiesPerSecond ?? NOTIFY_RATE, pull: limits.pullsPerSecond ?? PULL_RATE }
  const burst = { notify: limits.notifyBurst ?? NOTIFY_BURST, pull: limits.pullBurst ?? PULL_BURST }
  const maxStreams = limits.maxStreamsPerPeer ?? MAX_STREAMS_PER_PEER
  const buckets = new Map<string, Bucket>()
  const open = new Map<string, number>()
  return {
    take(peer, kind) {
      const key = `${kind}\u0000${peer}`
      const t = now()
      let b = buckets.get(key)
      if (!b) {
        if (buckets.size >= MAX_TRACKED_PEERS * 2) buckets.delete(buckets.keys().next().value as string)
        b = { tokens: burst[kind], at: t }
        buckets.set(key, b)
      }
      b.tokens = Math.min(burst[kind], b.tokens + ((t - b.at) / 1000) * rate[kind])
      b.at = t
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
    open(peer) {
      const n = open.get(peer) ?? 0
      if (n >= maxStreams) return false
      open.set(peer, n + 1)
      return true
    },
    close(peer) {
      const n = (open.get(peer) ?? 1) - 1
      if (n <= 0) open.delete(peer)
      else open.set(peer, n)
    },
  }
}
