import { describe, expect, it } from 'vitest'
import { CHUNK_SIZE } from '../../store/index.ts'
import { chunkTimeoutMs, createTokenBucket, pickChunk, pipelineDepth, type PickState } from '../../scheduler/index.ts'

const MiB = 1024 * 1024

function state(over: Partial<PickState>): PickState {
  return {
    chunks: 8,
    missing: () => true,
    requests: () => 0,
    sourceHas: () => true,
    askedOfSource: () => false,
    availability: () => 1,
    inOrder: false,
    wantFrom: 0,
    endgame: false,
    offset: 0,
    ...over,
  }
}

describe('plan: pipelining depth and timeouts', () => {
  it('depth covers the bandwidth-delay product plus one, within the limits', () => {
    expect(pipelineDepth(undefined, undefined)).toBe(4)
    // 100 MiB/s × 50 ms = 5 MiB in flight → 5 chunks + 1.
    expect(pipelineDepth(100 * MiB, 50)).toBe(6)
    expect(pipelineDepth(1 * MiB, 10)).toBe(2)
    expect(pipelineDepth(1000 * MiB, 200)).toBe(16)
    expect(pipelineDepth(1000 * MiB, 200, { max: 8 })).toBe(8)
    // A fast source on loopback (RTT 1 ms): the RTT floor (50 ms) keeps its pipe full: 15 + 1.
    expect(pipelineDepth(300 * MiB, 1)).toBe(16)
  })

  it('timeouts follow the measured rate and queue position, never below the floor', () => {
    expect(chunkTimeoutMs(undefined, undefined, 0, CHUNK_SIZE, { initialMs: 30_000 })).toBe(30_000)
    // 1 MiB/s, 3 MiB queued ahead: 4 × (20 ms + 4 s).
    expect(chunkTimeoutMs(1 * MiB, 20, 3 * CHUNK_SIZE, CHUNK_SIZE, { floorMs: 1000 })).toBe(16_080)
    expect(chunkTimeoutMs(1000 * MiB, 1, 0, CHUNK_SIZE, { floorMs: 5000 })).toBe(5000)
  })
})

describe('plan: which chunk next', () => {
  it('rarest first: the chunk fewest sources hold', () => {
    expect(pickChunk(state({ availability: (i) => (i === 5 ? 1 : 3) }))).toBe(5)
  })

  it('in order from the waiting reader, whatever the rarity', () => {
    expect(pickChunk(state({ inOrder: true, wantFrom: 3, availability: (i) => (i === 7 ? 1 : 3) }))).toBe(3)
  })

  it('never a chunk already requested, held, or that the source lacks (outside endgame)', () => {
    expect(pickChunk(state({ requests: (i) => (i < 4 ? 1 : 0), missing: (i) => i !== 4, sourceHas: (i) => i !== 5 }))).toBe(6)
    expect(pickChunk(state({ requests: () => 1 }))).toBe(-1)
  })

  it('endgame: a requested chunk may be asked of another source, the least requested first, never twice of one source', () => {
    const requests = (i: number) => (i === 2 ? 1 : i === 6 ? 2 : 0)
    const missing = (i: number) => i === 2 || i === 6
    expect(pickChunk(state({ endgame: true, requests, missing }))).toBe(2)
    expect(pickChunk(state({ endgame: true, requests, missing, askedOfSource: (i) => i === 2 }))).toBe(6)
    expect(pickChunk(state({ endgame: true, requests: () => 3, missing }))).toBe(-1)
  })

  it('a complete holder among partial ones is spent on chunks no peer has; one shared chunk at most when it has nothing else', () => {
    // Peers hold chunks 0–5; only the complete holder has 6 and 7 (and 6 is rarer by the counts).
    const peersHave = (i: number) => i < 6
    const availability = (i: number) => (i < 6 ? 2 : 1)
    expect(pickChunk(state({ availability, offset: 0, scarce: { peersHave, mayShare: false } }))).toBe(6)
    // 6 and 7 requested already: nothing unique left, and requests in flight: it waits.
    const requests = (i: number) => (i >= 6 ? 1 : 0)
    expect(pickChunk(state({ availability, requests, scarce: { peersHave, mayShare: false } }))).toBe(-1)
    // Idle, it may take one chunk a peer also has, rather than sit unused.
    expect(pickChunk(state({ availability, requests, offset: 2, scarce: { peersHave, mayShare: true } }))).toBe(2)
    // Without partial holders it is an ordinary source.
    expect(pickChunk(state({ availability, requests, offset: 2 }))).toBe(2)
  })
})

describe('token bucket', () => {
  it('lets a burst through, then paces takers to the rate', async () => {
    let now = 0
    const bucket = createTokenBucket(2 * MiB, () => now)
    await bucket.take(CHUNK_SIZE)
    expect(bucket.available()).toBe(0)
    now += 250
    expect(bucket.available()).toBe(0.5 * MiB)
    expect(createTokenBucket(0).available()).toBe(Infinity)
  })

  it('a taker over the rate waits the deficit off', async () => {
    const bucket = createTokenBucket(10 * MiB)
    const t0 = Date.now()
    await bucket.take(2.5 * MiB)
    await bucket.take(1 * MiB)
    // Capacity 2.5 MiB (a quarter second): the second taker waits 1 MiB / 10 MiB/s = 100 ms.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90)
  })
})
