import { MINUTE } from './constants.ts'

/** Penalty points past which a peer is disconnected and refused for BAN_DURATION. */
export const BAN_THRESHOLD = 10
/** How long a banned peer stays refused. */
export const BAN_DURATION = 10 * MINUTE
/** Points decay by one per this interval, so a rare glitch never adds up to a ban. */
export const PENALTY_DECAY_INTERVAL = 1 * MINUTE

/** Weight of each kind of misbehaviour. */
export const PENALTY = {
  /** Unparsable, oversized or out-of-protocol message. */
  malformed: 2,
  /** An event whose signature does not verify, or an impossible sequence number. */
  forged: 5,
  /** Chunk bytes that do not match the trusted manifest (reported by the swarm through peer profiles). */
  corrupt: 3,
} as const

export type PenaltyReason = keyof typeof PENALTY

export interface PeerPenalties {
  /** Adds the weight of `reason` to the peer's score; bans it past BAN_THRESHOLD. */
  penalise(peerId: string, reason: PenaltyReason): void
  banned(peerId: string): boolean
  score(peerId: string): number
}

export interface PeerPenaltiesInit {
  onBan?: (peerId: string) => void
  /** @default Date.now */
  now?: () => number
}

export function createPeerPenalties(init: PeerPenaltiesInit = {}): PeerPenalties {
  const now = init.now ?? Date.now
  const scores = new Map<string, { points: number; at: number }>()
  const bans = new Map<string, number>()
  const score = (peerId: string): number => {
    const s = scores.get(peerId)
    if (!s) return 0
    return Math.max(0, s.points - Math.floor((now() - s.at) / PENALTY_DECAY_INTERVAL))
  }
  return {
    penalise(peerId, reason) {
      const points = score(peerId) + PENALTY[reason]
      scores.set(peerId, { points, at: now() })
      if (points >= BAN_THRESHOLD) {
        bans.set(peerId, now() + BAN_DURATION)
        scores.delete(peerId)
        init.onBan?.(peerId)
      }
    },
    banned(peerId) {
      const until = bans.get(peerId)
      if (until === undefined) return false
      if (until > now()) return true
      bans.delete(peerId)
      return false
    },
    score,
  }
}
