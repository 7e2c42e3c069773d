/*
 * Per-origin replication lag (GET /api/v1/mesh/status). Peers advertise their version vector
 * with every notification and at the end of every pull ('done'); this node compares the highest
 * sequence any connected peer advertised with what it holds.
 */

export interface OriginLag {
  origin: string
  /** Highest sequence number of this origin held here. */
  held: number
  /** Highest sequence number of this origin any connected peer advertised (at least `held`). */
  advertised: number
  /** advertised − held. */
  eventsBehind: number
  /**
   * 0 when nothing is missing; otherwise seconds since this node first learned that an event it
   * lacks exists (the first advertisement above what it held), i.e. how long it has been behind.
   */
  secondsBehind: number
  /**
   * Propagation delay of the latest event held: (received here − its HLC time) in seconds, 0 for
   * this node's own events and never below 0 (clock skew). null when no event of it is held.
   */
  lastEventDelaySeconds: number | null
}

export interface LagTracker {
  /** A peer advertised its version vector; `held` is ours at that moment. */
  observe(peer: string, advertised: Record<string, number>, held: Record<string, number>): void
  /** The lag per origin, counting only the advertisements of `connected` peers. */
  report(input: {
    held: Record<string, number>
    connected: readonly string[]
    latest: (origin: string) => { hlcMs: number; receivedAt: number } | undefined
    self: string
  }): OriginLag[]
}

export function createLagTracker(now: () => number = Date.now): LagTracker {
  const adverts = new Map<string, Record<string, number>>()
  const behindSince = new Map<string, number>()
  /** Forgets when an origin fell behind once we hold what every advertisement shows. */
  const prune = (held: Record<string, number>) => {
    for (const origin of behindSince.keys()) {
      let max = 0
      for (const v of adverts.values()) max = Math.max(max, v[origin] ?? 0)
      if (max <= (held[origin] ?? 0)) behindSince.delete(origin)
    }
  }
  return {
    observe(peer, advertised, held) {
      adverts.set(peer, { ...advertised })
      prune(held)
      for (const [origin, seq] of Object.entries(advertised)) {
        if (seq > (held[origin] ?? 0) && !behindSince.has(origin)) behindSince.set(origin, now())
      }
    },
    report({ held, connected, latest, self }) {
      const live = new Set(connected)
      for (const peer of adverts.keys()) if (!live.has(peer)) adverts.delete(peer)
      prune(held)
      const best: Record<string, number> = { ...held }
      for (const v of adverts.values()) for (const [o, s] of Object.entries(v)) best[o] = Math.max(best[o] ?? 0, s)
      const t = now()
      return Object.keys(best)
        .sort()
        .map((origin) => {
          const h = held[origin] ?? 0
          const advertised = Math.max(best[origin] ?? 0, h)
          const eventsBehind = advertised - h
          if (eventsBehind === 0) behindSince.delete(origin)
          const since = behindSince.get(origin)
          const last = latest(origin)
          return {
            origin,
            held: h,
            advertised,
            eventsBehind,
            secondsBehind: eventsBehind === 0 || since === undefined ? 0 : Math.max(0, (t - since) / 1000),
            lastEventDelaySeconds: !last ? null : origin === self ? 0 : Math.max(0, (last.receivedAt - last.hlcMs) / 1000),
          }
        })
    },
  }
}
