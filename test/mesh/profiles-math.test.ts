import { describe, expect, it } from 'vitest'
import { addRttSample, addThroughputSample, ewma, JITTER_BETA, ProbeLimiter, RTT_ALPHA, THROUGHPUT_ALPHA } from '../../mesh/index.ts'

describe('peer profile estimators (pure logic)', () => {
  it('an EWMA starts at the first sample and then moves by alpha of the error', () => {
    expect(ewma(undefined, 40, 0.25)).toBe(40)
    expect(ewma(40, 80, 0.25)).toBe(50)
    expect(ewma(50, 10, 0.5)).toBe(30)
    expect(() => ewma(1, 2, 0)).toThrow(RangeError)
    expect(() => ewma(1, 2, 1.5)).toThrow(RangeError)
  })

  it('the first RTT sample sets the mean and half of it as the deviation (RFC 6298)', () => {
    expect(addRttSample(undefined, 20)).toEqual({ rttMs: 20, jitterMs: 10, samples: 1 })
  })

  it('later RTT samples update the deviation against the mean from before the sample', () => {
    const first = addRttSample(undefined, 20)
    const second = addRttSample(first, 36)
    // deviation = 10 + 1/4 * (|36 - 20| - 10) = 11.5; mean = 20 + 1/8 * (36 - 20) = 22
    expect(second.jitterMs).toBeCloseTo(10 + JITTER_BETA * (16 - 10), 10)
    expect(second.rttMs).toBeCloseTo(20 + RTT_ALPHA * 16, 10)
    expect(second.samples).toBe(2)
  })

  it('a steady RTT converges to that value with the deviation shrinking towards zero', () => {
    let e = addRttSample(undefined, 100)
    for (let i = 0; i < 200; i++) e = addRttSample(e, 5)
    expect(e.rttMs).toBeCloseTo(5, 3)
    expect(e.jitterMs).toBeLessThan(0.01)
    expect(e.samples).toBe(201)
  })

  it('alternating RTTs keep a jitter near their half-spread', () => {
    let e = addRttSample(undefined, 10)
    for (let i = 0; i < 400; i++) e = addRttSample(e, i % 2 === 0 ? 5 : 15)
    expect(e.rttMs).toBeGreaterThan(8)
    expect(e.rttMs).toBeLessThan(12)
    expect(e.jitterMs).toBeGreaterThan(3.5)
    expect(e.jitterMs).toBeLessThan(6.5)
  })

  it('rejects impossible RTT samples', () => {
    expect(() => addRttSample(undefined, -1)).toThrow(RangeError)
    expect(() => addRttSample(undefined, Number.NaN)).toThrow(RangeError)
  })

  it('throughput is bytes per second of each transfer, smoothed', () => {
    const one = addThroughputSample(undefined, 1_000_000, 500)
    expect(one).toEqual({ bytesPerSecond: 2_000_000, samples: 1 })
    const two = addThroughputSample(one, 1_000_000, 1000)
    expect(two?.bytesPerSecond).toBeCloseTo(2_000_000 + THROUGHPUT_ALPHA * (1_000_000 - 2_000_000), 6)
    expect(two?.samples).toBe(2)
  })

  it('a transfer of no bytes says nothing, and one timed at 0 ms is counted as 1 ms', () => {
    const one = addThroughputSample(undefined, 4096, 8)
    expect(addThroughputSample(one, 0, 10)).toBe(one)
    expect(addThroughputSample(undefined, 0, 10)).toBeUndefined()
    expect(addThroughputSample(undefined, 1000, 0)?.bytesPerSecond).toBe(1_000_000)
  })
})

describe('probe rate limit (server side)', () => {
  it('serves one probe per peer per interval, and at most N at once', () => {
    let t = 1_000_000
    const limiter = new ProbeLimiter(5000, 2, () => t)
    expect(limiter.acquire('a')).toBe(true)
    expect(limiter.acquire('a')).toBe(false) // same peer, too soon
    expect(limiter.acquire('b')).toBe(true)
    expect(limiter.acquire('c')).toBe(false) // two running already
    limiter.release()
    expect(limiter.acquire('c')).toBe(true)
    limiter.release()
    limiter.release()
    t += 4999
    expect(limiter.acquire('a')).toBe(false)
    t += 1
    expect(limiter.acquire('a')).toBe(true)
  })
})
