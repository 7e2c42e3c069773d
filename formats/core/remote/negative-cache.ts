import { MAX_NEGATIVE_ENTRIES } from './constants.ts'

/** Upstream 404s remembered for a short time, per repository and URL; the oldest go first when full. */
export class NegativeCache {
  private readonly until = new Map<string, number>()

  constructor(private readonly maxEntries = MAX_NEGATIVE_ENTRIES) {}

  has(repo: string, url: string): boolean {
    const key = `${repo}\0${url}`
    const t = this.until.get(key)
    if (t === undefined) return false
    if (t > Date.now()) return true
    this.until.delete(key)
    return false
  }

  add(repo: string, url: string, ttlMs: number): void {
    if (ttlMs <= 0) return
    const key = `${repo}\0${url}`
    this.until.delete(key)
    this.until.set(key, Date.now() + ttlMs)
    while (this.until.size > this.maxEntries) {
      const oldest = this.until.keys().next().value as string
      this.until.delete(oldest)
    }
  }
}
