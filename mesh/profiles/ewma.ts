/*
 * The estimators behind peer profiles: exponentially weighted moving averages. Pure functions
 * over plain values, so they are unit-tested without a network.
 */
import { JITTER_BETA, MIN_TRANSFER_MS, RTT_ALPHA, THROUGHPUT_ALPHA } from './constants.ts'

/** One EWMA step: the first sample is taken as is, later ones move the mean by `alpha` of the error. */
export function ewma(previous: number | undefined, sample: number, alpha: number): number {
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`EWMA weight must be in (0, 1], got ${alpha}`)
  return previous === undefined ? sample : previous + alpha * (sample - previous)
}

export interface RttEstimate {
  /** Smoothed round-trip time in ms. */
  rttMs: number
  /** Smoothed mean deviation of the samples from the smoothed RTT, in ms. */
  jitterMs: number
  samples: number
}

/**
 * Folds one RTT sample in, RFC 6298 style: the deviation |sample − rtt| is measured against the
 * estimate *before* this sample moves it; the first sample starts the deviation at half of it.
 */
export function addRttSample(previous: RttEstimate | undefined, sampleMs: number): RttEstimate {
  if (!Number.isFinite(sampleMs) || sampleMs < 0) throw new RangeError(`RTT sample must be a finite non-negative number, got ${sampleMs}`)
  if (!previous || previous.samples === 0) return { rttMs: sampleMs, jitterMs: sampleMs / 2, samples: 1 }
  return {
    jitterMs: ewma(previous.jitterMs, Math.abs(sampleMs - previous.rttMs), JITTER_BETA),
    rttMs: ewma(previous.rttMs, sampleMs, RTT_ALPHA),
    samples: previous.samples + 1,
  }
}

export interface ThroughputEstimate {
  /** Smoothed bytes per second. */
  bytesPerSecond: number
  samples: number
}

/**
 * Folds one transfer (bytes in ms) in. Returns `previous` unchanged for a sample that says
 * nothing: no bytes, or too short to time.
 */
export function addThroughputSample(previous: ThroughputEstimate | undefined, bytes: number, ms: number): ThroughputEstimate | undefined {
  if (!(bytes > 0) || !Number.isFinite(bytes) || !Number.isFinite(ms)) return previous
  const rate = (bytes * 1000) / Math.max(ms, MIN_TRANSFER_MS)
  return { bytesPerSecond: ewma(previous?.bytesPerSecond, rate, THROUGHPUT_ALPHA), samples: (previous?.samples ?? 0) + 1 }
}
