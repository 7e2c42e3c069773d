/**
 * Counts failed logins per key (a user name, a client address) in a sliding window and says
 * when a key has failed too often. Memory is bounded: expired entries are pruned on use.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>()

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs)
    if (list.length === 0) this.failures.delete(key)
    else this.failures.set(key, list)
    return list
  }

  /** Milliseconds until `key` may try again, or 0 when it may try now. */
  blockedFor(key: string, now = Date.now()): number {
    const list = this.recent(key, now)
    if (list.length < this.max) return 0
    return (list[list.length - this.max] as number) + this.windowMs - now
  }

  fail(key: string, now = Date.now()): void {
    if (this.failures.size >= this.maxKeys && !this.failures.has(key)) {
      for (const k of this.failures.keys()) {
        this.recent(k, now)
        if (this.failures.size < this.maxKeys) break
      }
      if (this.failures.size >= this.maxKeys) {
        const oldest = this.failures.keys().next().value
        if (oldest !== undefined) this.failures.delete(oldest)
      }
    }
    const list = this.recent(key, now)
    list.push(now)
    this.failures.set(key, list)
  }

  reset(key: string): void {
    this.failures.delete(key)
  }
}
