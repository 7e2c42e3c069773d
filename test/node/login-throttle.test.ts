import { describe, expect, it } from 'vitest'
import { backoff, LoginThrottle } from '../../node/auth/login-throttle.ts'

const T0 = 1_000_000_000
const PASS = { refuse: false, holdMs: 0 }

function throttle(maxKeys?: number) {
  return new LoginThrottle({ maxFailedPerUser: 3, maxFailedPerAddress: 5, ...(maxKeys ? { maxKeys } : {}) })
}

describe('login throttle (the rule in node/auth/login-throttle.ts)', () => {
  it('back-off is 0 below the free failures, then 1 s doubling, capped', () => {
    expect([2, 3, 4, 5, 6].map((n) => backoff(n, 3, 5_000))).toEqual([0, 1000, 2000, 4000, 5000])
    expect(backoff(1e6, 3, 15 * 60_000)).toBe(15 * 60_000)
  })

  it('a failing pair backs off exponentially; the same user from another address passes at once', () => {
    const t = throttle()
    for (let i = 0; i < 6; i++) t.failed('victim', 'M', T0)
    // 6 failures, 3 free: 1 s · 2^3 = 8 s after the last failure.
    expect(t.gate('victim', 'M', 'x', T0 + 7_999)).toMatchObject({ refuse: true })
    expect(t.gate('victim', 'M', 'x', T0 + 8_000)).toEqual(PASS)
    expect(t.gate('victim', 'V', 'x', T0)).toEqual(PASS)
  })

  it("a user name's failures from many addresses cost its other failing pairs at most 5 s", () => {
    const t = throttle()
    for (let i = 0; i < 50; i++) t.failed('victim', `10.0.0.${i}`, T0)
    t.failed('victim', 'home', T0) // one typo of the owner's own
    const g = t.gate('victim', 'home', 'x', T0)
    expect(g.refuse).toBe(true)
    expect(g.refuse && g.retryAfterMs).toBeLessThanOrEqual(5_000)
    expect(t.gate('victim', 'home', 'x', T0 + 5_000)).toEqual(PASS)
    // An address with no failures for the name is never refused.
    expect(t.gate('victim', 'office', 'x', T0)).toEqual(PASS)
  })

  it("an address's failures for other names never refuse a pair without failures; its answers are held at most 2 s", () => {
    const t = throttle()
    for (let i = 0; i < 40; i++) t.failed(`user${i}`, 'NAT', T0)
    const g = t.gate('victim', 'NAT', 'x', T0)
    expect(g).toEqual({ refuse: false, holdMs: 2_000 })
    // Below its limit, an address holds nothing.
    const quiet = throttle()
    for (let i = 0; i < 4; i++) quiet.failed(`user${i}`, 'NAT', T0)
    expect(quiet.gate('victim', 'NAT', 'x', T0)).toEqual(PASS)
    // Its failing pairs wait the address back-off (at most 30 s), even below their own threshold.
    const pair = t.gate('user1', 'NAT', 'x', T0)
    expect(pair.refuse).toBe(true)
    expect(pair.refuse && pair.retryAfterMs).toBe(30_000)
  })

  it('a success clears the pair; counts are forgotten after a quiet hour', () => {
    const t = throttle()
    for (let i = 0; i < 4; i++) t.failed('u', 'A', T0)
    expect(t.gate('u', 'A', 'x', T0 + 1000).refuse).toBe(true)
    t.succeeded('u', 'A')
    expect(t.gate('u', 'A', 'x', T0 + 1000)).toEqual(PASS)
    const u = throttle()
    for (let i = 0; i < 30; i++) u.failed('u', 'A', T0)
    // The longest wait of a pair is 15 minutes, then one more try per back-off.
    expect(u.gate('u', 'A', 'x', T0 + 15 * 60_000 - 1).refuse).toBe(true)
    expect(u.gate('u', 'A', 'x', T0 + 15 * 60_000)).toEqual(PASS)
    // An hour without failures: the count starts again from nothing.
    const later = T0 + 61 * 60_000
    u.failed('u', 'A', later)
    expect(u.gate('u', 'A', 'x', later)).toEqual(PASS)
  })

  it('distinct passwords being checked count as failures of the pair; the same one does not', () => {
    const t = throttle()
    const done = ['p1', 'p2', 'p3'].map((p) => t.begin('u', 'A', p))
    expect(t.gate('u', 'A', 'p4', T0).refuse).toBe(true)
    // npm sends many requests with the same credentials at once: they share one check.
    expect(t.gate('u', 'A', 'p1', T0)).toEqual(PASS)
    for (const d of done) d()
    expect(t.gate('u', 'A', 'p4', T0)).toEqual(PASS)
  })

  it('memory is bounded: the oldest entries go first', () => {
    const t = throttle(10)
    for (let i = 0; i < 4; i++) t.failed('old', 'A', T0)
    for (let i = 0; i < 10; i++) t.failed(`n${i}`, `B${i}`, T0 + 1)
    expect(t.gate('old', 'A', 'x', T0 + 2)).toEqual(PASS)
  })
})
