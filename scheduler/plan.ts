/*
 * The pure planning rules of a download: which chunk a source is asked for next, how many
 * requests a source keeps in flight, and how long a request may take. No I/O here, so the
 * rules are unit-tested directly.
 */
import { CHUNK_SIZE } from '../store/index.ts'
import {
  CHUNK_TIMEOUT_FACTOR,
  CHUNK_TIMEOUT_FLOOR,
  DEFAULT_PIPELINE_DEPTH,
  DEFAULT_RTT,
  ENDGAME_DUPLICATES,
  INITIAL_CHUNK_TIMEOUT,
  MAX_PIPELINE_DEPTH,
  MIN_PIPELINE_DEPTH,
  PIPELINE_RTT_FLOOR,
} from './constants.ts'

export interface DepthLimits {
  /** @default MIN_PIPELINE_DEPTH */
  min?: number
  /** @default MAX_PIPELINE_DEPTH */
  max?: number
}

/**
 * Requests to keep in flight to one source: enough to cover its bandwidth-delay product (so
 * the pipe never drains while a request travels; RTT at least PIPELINE_RTT_FLOOR) plus one,
 * within [min, max].
 */
export function pipelineDepth(bytesPerSecond: number | undefined, rttMs: number | undefined, limits: DepthLimits = {}): number {
  const min = limits.min ?? MIN_PIPELINE_DEPTH
  const max = Math.max(min, limits.max ?? MAX_PIPELINE_DEPTH)
  if (!bytesPerSecond || bytesPerSecond <= 0) return Math.min(max, Math.max(min, DEFAULT_PIPELINE_DEPTH))
  // A loopback RTT of 1 ms would leave a fast source 2 requests: the floor stands for the time a
  // chunk spends being read, sent, verified and written, during which the pipe must stay full.
  const bdp = (bytesPerSecond * Math.max(PIPELINE_RTT_FLOOR, rttMs ?? DEFAULT_RTT)) / 1000
  return Math.min(max, Math.max(min, Math.ceil(bdp / CHUNK_SIZE) + 1))
}

export interface TimeoutTuning {
  /** @default CHUNK_TIMEOUT_FLOOR */
  floorMs?: number
  /** @default INITIAL_CHUNK_TIMEOUT */
  initialMs?: number
}

/**
 * How long a request for `bytes` may take when `queued` bytes were already asked of the same
 * source ahead of it: CHUNK_TIMEOUT_FACTOR × (RTT + time to send them all at the measured rate),
 * never below the floor; INITIAL_CHUNK_TIMEOUT while nothing is measured.
 */
export function chunkTimeoutMs(bytesPerSecond: number | undefined, rttMs: number | undefined, queued: number, bytes: number, tuning: TimeoutTuning = {}): number {
  const floor = tuning.floorMs ?? CHUNK_TIMEOUT_FLOOR
  if (!bytesPerSecond || bytesPerSecond <= 0) return Math.max(floor, tuning.initialMs ?? INITIAL_CHUNK_TIMEOUT)
  const expected = (rttMs ?? DEFAULT_RTT) + ((queued + bytes) / bytesPerSecond) * 1000
  return Math.max(floor, Math.ceil(CHUNK_TIMEOUT_FACTOR * expected))
}

/** What pickChunk needs to know about one download and one source. */
export interface PickState {
  chunks: number
  /** Chunk i is neither verified nor being written. */
  missing(i: number): boolean
  /** Requests for chunk i in flight (all sources). */
  requests(i: number): number
  /** The source holds chunk i (its last have-map). */
  sourceHas(i: number): boolean
  /** This source was already asked for chunk i in this download and has not answered. */
  askedOfSource(i: number): boolean
  /** Sources (not dropped) that hold chunk i. */
  availability(i: number): number
  /** A reader waits: take chunks in order from `wantFrom`. */
  inOrder: boolean
  /** The chunk the earliest waiting reader needs next. */
  wantFrom: number
  /** Every missing chunk is requested and few remain: duplicate requests are allowed. */
  endgame: boolean
  /** Where rarest-first starts its scan, so sources with equal choices spread out. */
  offset: number
  /**
   * The source is a complete holder while partial holders (peers downloading the same blob) hold
   * some chunks: it is the scarce source, spent first on chunks no peer has (super-seeding).
   * `peersHave(i)` says whether a partial holder has chunk i; `mayShare` whether the source may
   * still be asked for such a chunk when none of the others is left (it has nothing in flight).
   */
  scarce?: { peersHave(i: number): boolean; mayShare: boolean }
}

/**
 * The next chunk to ask of a source, or -1. Unrequested chunks come first: in order from the
 * waiting reader's position when a client waits, otherwise rarest first (fewest holders, so
 * chunks only one partial holder has are taken before it leaves). In endgame a chunk already
 * requested elsewhere may be asked again (up to ENDGAME_DUPLICATES), the least requested first.
 */
export function pickChunk(s: PickState): number {
  const n = s.chunks
  if (s.inOrder) {
    for (let k = 0; k < n; k++) {
      const i = (s.wantFrom + k) % n
      if (s.missing(i) && s.requests(i) === 0 && s.sourceHas(i)) return i
    }
  } else {
    if (s.scarce) {
      const first = rarest(s, (i) => !s.scarce?.peersHave(i))
      if (first >= 0) return first
      if (!s.scarce.mayShare) return s.endgame ? endgamePick(s) : -1
    }
    const best = rarest(s, () => true)
    if (best >= 0) return best
  }
  if (!s.endgame) return -1
  return endgamePick(s)
}

/** Rarest-first among the unrequested missing chunks the source has that `allowed` admits. */
function rarest(s: PickState, allowed: (i: number) => boolean): number {
  const n = s.chunks
  let best = -1
  let bestAvail = Infinity
  for (let k = 0; k < n; k++) {
    const i = (s.offset + k) % n
    if (!s.missing(i) || s.requests(i) > 0 || !s.sourceHas(i) || !allowed(i)) continue
    const a = s.availability(i)
    if (a < bestAvail) {
      best = i
      bestAvail = a
      if (a <= 1) break
    }
  }
  return best
}

/** In endgame: a chunk requested elsewhere, the least requested first, never twice of one source. */
function endgamePick(s: PickState): number {
  const n = s.chunks
  let best = -1
  let fewest = ENDGAME_DUPLICATES
  for (let k = 0; k < n; k++) {
    const i = s.inOrder ? (s.wantFrom + k) % n : k
    if (!s.missing(i) || !s.sourceHas(i) || s.askedOfSource(i)) continue
    const r = s.requests(i)
    if (r < fewest) {
      best = i
      fewest = r
    }
  }
  return best
}
