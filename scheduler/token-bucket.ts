import { CHUNK_SIZE } from '../store/index.ts'
import { BUCKET_BURST } from './constants.ts'

/**
 * A token bucket over bytes: `take(n)` waits until the bytes fit the rate. Takers reserve in
 * turn (the balance may go negative, the next taker waits it off), so concurrent requests queue
 * fairly without a timer per byte. Rate 0 means unlimited.
 */
export interface TokenBucket {
  readonly bytesPerSecond: number
  take(bytes: number, signal?: AbortSignal): Promise<void>
  /** Bytes that could be taken now without waiting (negative while takers wait; Infinity when unlimited). */
  available(): number
}

export function createTokenBucket(bytesPerSecond: number, now: () => number = Date.now): TokenBucket {
  if (!(bytesPerSecond > 0)) return { bytesPerSecond: 0, take: async () => {}, available: () => Infinity }
  const capacity = Math.max(CHUNK_SIZE, bytesPerSecond * BUCKET_BURST)
  let tokens = capacity
  let last = now()
  const refill = () => {
    const t = now()
    tokens = Math.min(capacity, tokens + ((t - last) / 1000) * bytesPerSecond)
    last = t
  }
  return {
    bytesPerSecond,
    available() {
      refill()
      return tokens
    },
    async take(bytes, signal) {
      refill()
      tokens -= bytes
      if (tokens >= 0) return
      const waitMs = (-tokens / bytesPerSecond) * 1000
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }, waitMs)
        const onAbort = () => {
          clearTimeout(timer)
          // Give back what this taker reserved: it will not transfer.
          tokens += bytes
          reject(signal?.reason ?? new Error('aborted'))
        }
        if (signal?.aborted) return onAbort()
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
  }
}
