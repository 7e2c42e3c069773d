/**
 * Hybrid logical clock (Kulkarni et al.): wall-clock milliseconds plus a counter, so events
 * order causally across nodes even when their clocks drift a little.
 */
export interface Hlc {
  ms: number
  counter: number
}

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.ms - b.ms || a.counter - b.counter
}

export class HybridClock {
  private last: Hlc

  constructor(
    private readonly now: () => number = Date.now,
    initial: Hlc = { ms: 0, counter: 0 },
  ) {
    this.last = initial
  }

  /** A timestamp for a local event, greater than every one issued or observed before. */
  tick(): Hlc {
    const wall = this.now()
    this.last = wall > this.last.ms ? { ms: wall, counter: 0 } : { ms: this.last.ms, counter: this.last.counter + 1 }
    return this.last
  }

  /** Merges a timestamp received from another node. */
  observe(remote: Hlc): Hlc {
    const wall = this.now()
    const ms = Math.max(wall, this.last.ms, remote.ms)
    let counter = 0
    if (ms === this.last.ms && ms === remote.ms) counter = Math.max(this.last.counter, remote.counter) + 1
    else if (ms === this.last.ms) counter = this.last.counter + 1
    else if (ms === remote.ms) counter = remote.counter + 1
    this.last = { ms, counter }
    return this.last
  }

  current(): Hlc {
    return this.last
  }
}
