import {
  LOGIN_ADDRESS_MAX_BACKOFF,
  LOGIN_ADDRESS_MAX_HOLD,
  LOGIN_BACKOFF_BASE,
  LOGIN_FAILURE_KEYS,
  LOGIN_PAIR_MAX_BACKOFF,
  LOGIN_PAIR_MEMORY,
  LOGIN_USER_MAX_BACKOFF,
  LOGIN_WINDOW,
} from '../constants.ts'

/*
 * Failed-password throttling, shaped like the big identity providers' (per user *and* place,
 * never a lock-out that an attacker can trigger for somebody else). Three failure counts:
 *
 *   pair    (user name, client address): forgotten LOGIN_PAIR_MEMORY (1 h) after its last failure
 *   user    user name, from every address: forgotten LOGIN_WINDOW (5 min) after its last failure
 *   address client address, for every user name: forgotten LOGIN_WINDOW after its last failure
 *
 * The rule, for an attempt of user U from address A:
 *   - A pair without failures (U never failed from A lately) is always checked: a correct
 *     password succeeds, whatever U failed from elsewhere and whatever other names failed from A.
 *     Only when A is over its limit is the answer (success or not, so timing tells nothing)
 *     held for the address back-off, at most LOGIN_ADDRESS_MAX_HOLD (2 s): this slows one
 *     address guessing across many names without refusing anybody.
 *   - A pair with failures is refused (429, Retry-After, password not checked) until its last
 *     failure is older than the largest of three back-offs:
 *       pair:    1 s · 2^(pair failures − maxFailedPerUser), from maxFailedPerUser on, ≤ 15 min
 *       user:    1 s · 2^(user failures − maxFailedPerUser), from maxFailedPerUser on, ≤ 5 s
 *       address: 1 s · 2^(address failures − maxFailedPerAddress), from maxFailedPerAddress on, ≤ 30 s
 *     So only the pair that failed often waits long; a user name attacked from everywhere costs
 *     its owner at most a few seconds after a typo of their own, never a lock-out.
 *   - A success resets the pair. Checks still running for a pair count as its failures (distinct
 *     passwords only), so a burst of parallel guesses cannot outrun the count.
 * API tokens and session JWTs never pass through here.
 */

export interface LoginThrottleInit {
  /** Failures of one user name (from one address, and from all) before back-off starts. */
  maxFailedPerUser: number
  /** Failures from one address (all user names) before its back-off starts. */
  maxFailedPerAddress: number
  /** Entries kept per count; the oldest go first. @default LOGIN_FAILURE_KEYS */
  maxKeys?: number
}

/** What to do with an attempt: refuse it for `retryAfterMs`, or check it and hold the answer `holdMs`. */
export type LoginGate = { refuse: true; retryAfterMs: number } | { refuse: false; holdMs: number }

interface FailureCount {
  failures: number
  /** Time of the last failure (ms). */
  last: number
}

/** Failure counts by key, forgotten `memoryMs` after their last failure; at most `maxKeys` (oldest dropped). */
class FailureCounts {
  private readonly counts = new Map<string, FailureCount>()

  constructor(
    private readonly memoryMs: number,
    private readonly maxKeys: number,
  ) {}

  get(key: string, now: number): FailureCount | undefined {
    const c = this.counts.get(key)
    if (c && now - c.last > this.memoryMs) {
      this.counts.delete(key)
      return undefined
    }
    return c
  }

  fail(key: string, now: number): void {
    const c = this.get(key, now)
    // Re-inserted so that the Map's order is the order of last failures (oldest first).
    this.counts.delete(key)
    if (this.counts.size >= this.maxKeys) {
      const oldest = this.counts.keys().next().value
      if (oldest !== undefined) this.counts.delete(oldest)
    }
    this.counts.set(key, { failures: (c?.failures ?? 0) + 1, last: now })
  }

  delete(key: string): void {
    this.counts.delete(key)
  }
}

/** 0 below `free` failures, then LOGIN_BACKOFF_BASE doubling per further failure, at most `max`. */
export function backoff(failures: number, free: number, max: number): number {
  if (failures < free) return 0
  return Math.min(LOGIN_BACKOFF_BASE * 2 ** Math.min(failures - free, 30), max)
}

export class LoginThrottle {
  private readonly pairs: FailureCounts
  private readonly users: FailureCounts
  private readonly addresses: FailureCounts
  /** pair → the distinct attempts (credential hashes) being checked right now, with how many requests carry each. */
  private readonly checking = new Map<string, Map<string, number>>()

  constructor(private readonly init: LoginThrottleInit) {
    const maxKeys = init.maxKeys ?? LOGIN_FAILURE_KEYS
    this.pairs = new FailureCounts(LOGIN_PAIR_MEMORY, maxKeys)
    this.users = new FailureCounts(LOGIN_WINDOW, maxKeys)
    this.addresses = new FailureCounts(LOGIN_WINDOW, maxKeys)
  }

  /** Decides about an attempt (`attempt` names the credentials, e.g. their hash). */
  gate(user: string, address: string, attempt: string, now = Date.now()): LoginGate {
    const key = pairKey(user, address)
    const running = this.checking.get(key)
    const others = running ? running.size - (running.has(attempt) ? 1 : 0) : 0
    if (others >= this.init.maxFailedPerUser) return { refuse: true, retryAfterMs: LOGIN_BACKOFF_BASE }
    const addressFailures = this.addresses.get(address, now)?.failures ?? 0
    const addressWait = backoff(addressFailures, this.init.maxFailedPerAddress, LOGIN_ADDRESS_MAX_BACKOFF)
    const pair = this.pairs.get(key, now)
    if (!pair) return { refuse: false, holdMs: Math.min(addressWait, LOGIN_ADDRESS_MAX_HOLD) }
    const wait = Math.max(
      backoff(pair.failures + others, this.init.maxFailedPerUser, LOGIN_PAIR_MAX_BACKOFF),
      backoff(this.users.get(user, now)?.failures ?? 0, this.init.maxFailedPerUser, LOGIN_USER_MAX_BACKOFF),
      addressWait,
    )
    const left = pair.last + wait - now
    return left > 0 ? { refuse: true, retryAfterMs: left } : { refuse: false, holdMs: 0 }
  }

  /** Marks `attempt` as being checked until the returned function is called. */
  begin(user: string, address: string, attempt: string): () => void {
    const key = pairKey(user, address)
    let running = this.checking.get(key)
    if (!running) this.checking.set(key, (running = new Map()))
    const map = running
    map.set(attempt, (map.get(attempt) ?? 0) + 1)
    return () => {
      const n = (map.get(attempt) ?? 1) - 1
      if (n > 0) map.set(attempt, n)
      else map.delete(attempt)
      if (map.size === 0 && this.checking.get(key) === map) this.checking.delete(key)
    }
  }

  failed(user: string, address: string, now = Date.now()): void {
    this.pairs.fail(pairKey(user, address), now)
    this.users.fail(user, now)
    this.addresses.fail(address, now)
  }

  succeeded(user: string, address: string): void {
    this.pairs.delete(pairKey(user, address))
  }
}

function pairKey(user: string, address: string): string {
  return `${address}\u0000${user}`
}
