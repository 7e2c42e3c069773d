import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CHUNK_SIZE } from '../../store/index.ts'
import type { SchedulerTuning } from '../../scheduler/index.ts'
import { directoryOf, makeBlob, MemorySource, openSwarmFixture, readAll, RecordingFeedback, type SwarmFixture } from './swarm-fixture.ts'

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Short timeouts and backoffs, so congestion shows within a test. */
const TUNING: SchedulerTuning = {
  havePollMs: 50,
  directoryPollMs: 100,
  noSourceTimeoutMs: 3000,
  chunkTimeoutFloorMs: 300,
  initialChunkTimeoutMs: 300,
  busyBackoffMs: 50,
  maxBusyBackoffMs: 200,
  maxConsecutiveFailures: 3,
  readmitAfterMs: 200,
  maxReadmitAfterMs: 400,
}

let fx: SwarmFixture
beforeEach(() => {
  fx = openSwarmFixture()
})
afterEach(async () => {
  await fx.close()
})

async function stored(digest: string): Promise<Buffer> {
  return readAll(await fx.store.blobs.open(digest))
}

describe('scheduler: congestion backs off, only faults drop a source', () => {
  it('a source that answers busy for a while is paused, not dropped, and serves chunks once it has room', async () => {
    const blob = makeBlob(16 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const feedback = new RecordingFeedback()
    // Busy for its first 8 requests (more than the 3 failures in a row that used to drop a source).
    const busy = new MemorySource('libp2p:busy', blob, { misbehave: (n) => (n < 8 ? 'refused' : undefined), delayMs: 5 })
    const slow = new MemorySource('libp2p:slow', blob, { delayMs: 400 })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [busy, slow]), feedback, tuning: TUNING })
    await scheduler.fetch(blob.digests.sha256)
    expect(sha256(await stored(blob.digests.sha256))).toBe(blob.digests.sha256)
    expect(busy.misbehaved.filter((m) => m.how === 'refused')).toHaveLength(8)
    expect(busy.served.length).toBeGreaterThan(0)
    const t = scheduler.transfers()[0]
    const b = t?.sources.find((s) => s.id === 'libp2p:busy')
    expect(b?.state).toBe('done')
    expect(b?.backoffs).toBeGreaterThanOrEqual(8)
    expect(b?.chunks).toBe(busy.served.length)
    // Busy is congestion, not a fault: nothing was reported against the peer's profile.
    expect(feedback.failures.filter((f) => f.source === 'libp2p:busy')).toEqual([])
  })

  it('the only source times out while congested: the download waits it out and completes from it', async () => {
    const blob = makeBlob(10 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const feedback = new RecordingFeedback()
    // Its uplink is stuck for the first 700 ms: every request in that window hangs past its timeout.
    const congested = new MemorySource('libp2p:congested', blob, { misbehave: (_n, since) => (since < 700 ? 'hang' : undefined), delayMs: 5 })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [congested]), feedback, tuning: TUNING })
    await scheduler.fetch(blob.digests.sha256)
    expect(sha256(await stored(blob.digests.sha256))).toBe(blob.digests.sha256)
    expect(congested.misbehaved.filter((m) => m.how === 'hang').length).toBeGreaterThanOrEqual(3)
    const s = scheduler.transfers()[0]?.sources[0]
    expect(s).toMatchObject({ id: 'libp2p:congested', state: 'done', chunks: blob.chunks })
    expect(s?.backoffs).toBeGreaterThanOrEqual(3)
    expect(feedback.failures).toEqual([])
  })

  it('a source dropped because it was gone is taken back after a backoff and finishes the download', async () => {
    const blob = makeBlob(8 * CHUNK_SIZE)
    fx.knowRemote(blob)
    // Down for its first 300 ms: have() and chunk requests fail as from a closed port.
    const flaky = new MemorySource('libp2p:flaky', blob, {
      haveFails: (since) => (since < 300 ? 'gone' : undefined),
      misbehave: (_n, since) => (since < 300 ? 'gone' : undefined),
    })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [flaky]), tuning: TUNING })
    await scheduler.fetch(blob.digests.sha256)
    expect(sha256(await stored(blob.digests.sha256))).toBe(blob.digests.sha256)
    const s = scheduler.transfers()[0]?.sources[0]
    expect(s?.state).toBe('done')
    expect(s?.readmitted).toBeGreaterThanOrEqual(1)
    expect(flaky.served).toHaveLength(blob.chunks)
  })

  it('a source that sent a corrupt chunk is never taken back, however long the download runs', async () => {
    const blob = makeBlob(12 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const liar = new MemorySource('libp2p:liar', blob, { corrupt: () => true })
    // The honest source is slow enough that the download outlives several readmission periods.
    const honest = new MemorySource('libp2p:honest', blob, { delayMs: 150 })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [liar, honest]), tuning: { ...TUNING, maxDepth: 2 } })
    await scheduler.fetch(blob.digests.sha256)
    expect(sha256(await stored(blob.digests.sha256))).toBe(blob.digests.sha256)
    const l = scheduler.transfers()[0]?.sources.find((s) => s.id === 'libp2p:liar')
    expect(l).toMatchObject({ state: 'dropped', reason: 'corrupt', chunks: 0 })
    expect(l?.readmitted).toBeUndefined()
    const askedAfterDrop = liar.requested.length
    expect(askedAfterDrop).toBeLessThanOrEqual(4)
    expect(honest.served).toHaveLength(blob.chunks)
  })
})
