import { existsSync, readdirSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CHUNK_SIZE, DigestMismatchError } from '../../store/index.ts'
import { type ChunkSource, type HaveMap, type Scheduler } from '../../scheduler/index.ts'
import { directoryOf, makeBlob, MemorySource, openSwarmFixture, readAll, RecordingFeedback, sleep, type SwarmFixture } from './swarm-fixture.ts'

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

let fx: SwarmFixture
beforeEach(() => {
  fx = openSwarmFixture()
})
afterEach(async () => {
  await fx.close()
})

async function storedBytes(s: SwarmFixture, digest: string): Promise<Buffer> {
  return readAll(await s.store.blobs.open(digest))
}

function remoteRow(s: SwarmFixture, digest: string): boolean {
  return s.store.db.prepare('SELECT 1 FROM remote_blobs WHERE sha256 = ?').get(digest) !== undefined
}

/** A gate that holds chunk requests until released. */
function holdBack() {
  let open!: () => void
  const released = new Promise<void>((r) => (open = r))
  return { wait: () => released, release: () => open() }
}

describe('scheduler: downloading a blob the node knows but does not hold', () => {
  it('takes chunks from two sources, commits the blob, removes its remote_blobs row and the partial files', async () => {
    const blob = makeBlob(6 * CHUNK_SIZE + 1234)
    fx.knowRemote(blob)
    const a = new MemorySource('libp2p:a', blob, { delayMs: 5 })
    const b = new MemorySource('http:b', blob, { kind: 'http', delayMs: 5 })
    const feedback = new RecordingFeedback()
    const scheduler = fx.scheduler({ directory: directoryOf(() => [a, b]), feedback })
    await scheduler.fetch(blob.digests.sha256)
    expect(sha256(await storedBytes(fx, blob.digests.sha256))).toBe(blob.digests.sha256)
    expect(remoteRow(fx, blob.digests.sha256)).toBe(false)
    expect(readdirSync(fx.partialDir)).toEqual([])
    expect(a.served.length).toBeGreaterThan(0)
    expect(b.served.length).toBeGreaterThan(0)
    expect(a.served.length + b.served.length).toBe(blob.chunks)
    const [t] = scheduler.transfers()
    expect(t?.state).toBe('done')
    expect(t?.progress).toBe(1)
    expect(t?.sources.map((s) => s.id).sort()).toEqual(['http:b', 'libp2p:a'])
    expect(t?.sources.reduce((n, s) => n + s.bytes, 0)).toBe(blob.data.length)
    expect(scheduler.local.have(blob.digests.sha256)).toBe('all')
  })

  it('rarest first without a reader: the chunks only one source holds are taken from it first', async () => {
    const blob = makeBlob(8 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const full = new MemorySource('libp2p:full', blob, { delayMs: 5 })
    const half = new MemorySource('libp2p:half', blob, { have: [0, 1, 2, 3], delayMs: 5 })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [full, half]), tuning: { minDepth: 1, maxDepth: 1 } })
    await scheduler.fetch(blob.digests.sha256)
    expect(full.requested.slice(0, 4).sort()).toEqual([4, 5, 6, 7])
    expect(half.requested.every((i) => i < 4)).toBe(true)
  })

  it('in order while a client waits: requests follow the stream position, and the stream is right', async () => {
    const blob = makeBlob(8 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const source = new MemorySource('libp2p:one', blob, { delayMs: 2 })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [source]), tuning: { minDepth: 1, maxDepth: 1 } })
    const data = await readAll(await scheduler.open(blob.digests.sha256))
    expect(data.equals(blob.data)).toBe(true)
    expect(source.requested).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
  })

  it('streams: open() yields the first bytes while the last chunk is still held back', async () => {
    const blob = makeBlob(5 * CHUNK_SIZE + 77)
    fx.knowRemote(blob)
    const last = blob.chunks - 1
    const gate = holdBack()
    const source = new MemorySource('libp2p:one', blob, { gate: (i) => (i === last ? gate.wait() : Promise.resolve()) })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [source]) })
    const stream = await scheduler.open(blob.digests.sha256)
    const received: Buffer[] = []
    let got = 0
    for await (const part of stream) {
      received.push(part as Buffer)
      got += (part as Buffer).length
      if (got >= CHUNK_SIZE) break
    }
    expect(source.served).not.toContain(last)
    expect(Buffer.concat(received).subarray(0, CHUNK_SIZE).equals(blob.data.subarray(0, CHUNK_SIZE))).toBe(true)
    gate.release()
    // A second reader of the same download gets everything once the last chunk arrives.
    const whole = await readAll(await scheduler.open(blob.digests.sha256))
    expect(whole.equals(blob.data)).toBe(true)
  })

  it('serves a byte range of a blob being downloaded', async () => {
    const blob = makeBlob(4 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const source = new MemorySource('libp2p:one', blob)
    const scheduler = fx.scheduler({ directory: directoryOf(() => [source]) })
    const start = 2 * CHUNK_SIZE - 10
    const end = 3 * CHUNK_SIZE + 5
    const part = await readAll(await scheduler.open(blob.digests.sha256, { start, end }))
    expect(part.equals(blob.data.subarray(start, end + 1))).toBe(true)
  })

  it('endgame: the last chunk is asked of another source too, and the slow request is cancelled on first arrival', async () => {
    const blob = makeBlob(4 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const feedback = new RecordingFeedback()
    // The stuck source answers nothing; without endgame its chunk would wait for the 10 s timeout.
    const stuck = new MemorySource('libp2p:stuck', blob, { gate: () => new Promise(() => {}) })
    const fast = new MemorySource('libp2p:fast', blob, { delayMs: 10 })
    const scheduler = fx.scheduler({
      directory: directoryOf(() => [stuck, fast]),
      feedback,
      tuning: { minDepth: 1, maxDepth: 1, initialChunkTimeoutMs: 10_000, chunkTimeoutFloorMs: 10_000 },
    })
    const t0 = Date.now()
    await scheduler.fetch(blob.digests.sha256)
    expect(Date.now() - t0).toBeLessThan(3000)
    expect(stuck.requested.length).toBeGreaterThan(0)
    // Fast delivered every chunk, including the one first asked of the stuck source.
    expect(new Set(fast.served)).toEqual(new Set([0, 1, 2, 3]))
    expect(stuck.requested.some((i) => fast.requested.includes(i))).toBe(true)
    expect(feedback.failures.filter((f) => f.source === 'libp2p:stuck')).toEqual([])
    expect(sha256(await storedBytes(fx, blob.digests.sha256))).toBe(blob.digests.sha256)
  })

  it('fails over when a source dies mid-way: the rest comes from the other source', async () => {
    const blob = makeBlob(10 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const feedback = new RecordingFeedback()
    const dying = new MemorySource('libp2p:dying', blob, { dieAfter: 3, delayMs: 2 })
    const steady = new MemorySource('libp2p:steady', blob, { delayMs: 20 })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [dying, steady]), feedback })
    await scheduler.fetch(blob.digests.sha256)
    expect(sha256(await storedBytes(fx, blob.digests.sha256))).toBe(blob.digests.sha256)
    const t = scheduler.transfers()[0]
    const d = t?.sources.find((s) => s.id === 'libp2p:dying')
    expect(d?.state).toBe('dropped')
    expect(d?.reason).toBe('gone')
    expect(d?.chunks).toBe(3)
    expect(t?.sources.find((s) => s.id === 'libp2p:steady')?.chunks).toBe(blob.chunks - 3)
    expect(feedback.failures).toContainEqual({ source: 'libp2p:dying', reason: 'gone' })
  })

  it('drops a source that sends a corrupt chunk, reports it, and commits only the right bytes', async () => {
    const blob = makeBlob(8 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const feedback = new RecordingFeedback()
    const failed: string[] = []
    const liar = new MemorySource('libp2p:liar', blob, { corrupt: () => true })
    const honest = new MemorySource('libp2p:honest', blob, { delayMs: 10 })
    const scheduler = fx.scheduler({
      directory: directoryOf(() => [liar, honest]),
      feedback,
      observer: { chunkFailed: (s, reason) => failed.push(`${s.kind}:${reason}`) },
    })
    await scheduler.fetch(blob.digests.sha256)
    expect(sha256(await storedBytes(fx, blob.digests.sha256))).toBe(blob.digests.sha256)
    expect(feedback.failures).toContainEqual({ source: 'libp2p:liar', reason: 'corrupt' })
    expect(failed).toContain('libp2p:corrupt')
    const t = scheduler.transfers()[0]
    expect(t?.sources.find((s) => s.id === 'libp2p:liar')).toMatchObject({ state: 'dropped', reason: 'corrupt', chunks: 0 })
    // Dropped for the rest of the download: once its first answers failed, it was asked nothing new.
    expect(liar.requested.length).toBeLessThanOrEqual(16)
    expect(honest.served.length).toBe(blob.chunks)
  })

  it('commits nothing when the only source sends corrupt chunks: the download fails, the blob stays remote', async () => {
    const blob = makeBlob(3 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const liar = new MemorySource('libp2p:liar', blob, { corrupt: (i) => i === 1 })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [liar]), tuning: { noSourceTimeoutMs: 300 } })
    await expect(scheduler.fetch(blob.digests.sha256)).rejects.toMatchObject({ code: 'AK_STORAGE_ERROR' })
    expect(await fx.store.blobs.stat(blob.digests.sha256)).toBeUndefined()
    expect(remoteRow(fx, blob.digests.sha256)).toBe(true)
  })

  it('a blob without a row: a manifest that does not hash to the digest is discarded and its source penalised', async () => {
    const real = makeBlob(3 * CHUNK_SIZE)
    const other = makeBlob(3 * CHUNK_SIZE)
    const feedback = new RecordingFeedback()
    // The source serves `other` under `real`'s digest, with a manifest that matches its own chunks.
    const liar = new MemorySource('libp2p:liar', { ...other, digests: { ...other.digests, sha256: real.digests.sha256 } }, {
      manifest: { ...other.manifest, sha256: real.digests.sha256 },
    })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [liar]), feedback })
    await expect(scheduler.fetch(real.digests.sha256)).rejects.toBeInstanceOf(DigestMismatchError)
    expect(feedback.failures).toContainEqual({ source: 'libp2p:liar', reason: 'corrupt' })
    expect(await fx.store.blobs.stat(real.digests.sha256)).toBeUndefined()
    expect(readdirSync(fx.partialDir)).toEqual([])
  })

  it('a blob without a row: takes the manifest from a source, checks the whole digest and computes every digest', async () => {
    const blob = makeBlob(2 * CHUNK_SIZE + 5)
    const source = new MemorySource('libp2p:one', blob)
    const scheduler = fx.scheduler({ directory: directoryOf(() => [source]) })
    await scheduler.fetch(blob.digests.sha256)
    const rehashed = await fx.store.blobs.rehash(blob.digests.sha256)
    expect(rehashed).toMatchObject({ sha1: blob.digests.sha1, md5: blob.digests.md5, sha512: blob.digests.sha512 })
    expect(scheduler.local.have(blob.digests.sha256)).toBe('all')
  })

  it('single-flight: two concurrent opens share one download and each chunk is fetched once', async () => {
    const blob = makeBlob(6 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const source = new MemorySource('libp2p:one', blob, { delayMs: 5 })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [source]) })
    const [s1, s2] = await Promise.all([scheduler.open(blob.digests.sha256), scheduler.open(blob.digests.sha256)])
    const [d1, d2] = await Promise.all([readAll(s1), readAll(s2)])
    expect(d1.equals(blob.data) && d2.equals(blob.data)).toBe(true)
    expect(source.requested.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5])
    expect(scheduler.transfers().length).toBe(1)
  })

  it('resumes after a restart: a new scheduler over the same partial dir fetches only the missing chunks', async () => {
    const blob = makeBlob(12 * CHUNK_SIZE)
    fx.knowRemote(blob)
    let passed = 0
    const first = new MemorySource('libp2p:first', blob, {
      gate: () => (passed++ < 5 ? Promise.resolve() : new Promise(() => {})),
    })
    const before = fx.scheduler({ directory: directoryOf(() => [first]) })
    void before.fetch(blob.digests.sha256).catch(() => {})
    const deadline = Date.now() + 5000
    while ((before.transfers()[0]?.chunksHave ?? 0) < 5 && Date.now() < deadline) await sleep(10)
    expect(before.transfers()[0]?.chunksHave).toBe(5)
    await before.close()
    expect(readdirSync(fx.partialDir).sort()).toEqual([`${blob.digests.sha256}.have`, `${blob.digests.sha256}.manifest`, `${blob.digests.sha256}.part`])

    const second = new MemorySource('libp2p:second', blob)
    const after = fx.scheduler({ directory: directoryOf(() => [second]) })
    await after.fetch(blob.digests.sha256)
    expect(second.requested.length).toBe(blob.chunks - 5)
    expect(second.requested.filter((i) => first.served.includes(i))).toEqual([])
    expect(after.transfers()[0]?.chunksResumed).toBe(5)
    expect(sha256(await storedBytes(fx, blob.digests.sha256))).toBe(blob.digests.sha256)
  })

  it('re-fetches a resumed chunk whose bytes were damaged on disk while the node was down', async () => {
    const blob = makeBlob(4 * CHUNK_SIZE)
    fx.knowRemote(blob)
    let passed = 0
    const first = new MemorySource('libp2p:first', blob, { gate: () => (passed++ < 2 ? Promise.resolve() : new Promise(() => {})) })
    const before = fx.scheduler({ directory: directoryOf(() => [first]), tuning: { minDepth: 1, maxDepth: 1 } })
    void before.open(blob.digests.sha256).catch(() => {})
    const deadline = Date.now() + 5000
    while ((before.transfers()[0]?.chunksHave ?? 0) < 2 && Date.now() < deadline) await sleep(10)
    await before.close()
    const { open } = await import('node:fs/promises')
    const fd = await open(`${fx.partialDir}/${blob.digests.sha256}.part`, 'r+')
    await fd.write(Buffer.from('damage'), 0, 6, 10)
    await fd.close()
    const second = new MemorySource('libp2p:second', blob)
    const after = fx.scheduler({ directory: directoryOf(() => [second]) })
    await after.fetch(blob.digests.sha256)
    expect(second.requested.sort()).toEqual([0, 2, 3])
    expect(sha256(await storedBytes(fx, blob.digests.sha256))).toBe(blob.digests.sha256)
  })

  it('global token bucket: 8 MiB at 4 MiB/s takes at least the time the rate allows', async () => {
    const blob = makeBlob(8 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const source = new MemorySource('libp2p:one', blob)
    const scheduler = fx.scheduler({ directory: directoryOf(() => [source]), limits: { globalBytesPerSecond: 4 * CHUNK_SIZE } })
    const t0 = Date.now()
    await scheduler.fetch(blob.digests.sha256)
    const seconds = (Date.now() - t0) / 1000
    // One chunk of burst, then 7 MiB at 4 MiB/s.
    expect(seconds).toBeGreaterThanOrEqual(1.6)
    expect(seconds).toBeLessThan(4)
  })

  it('per-source token bucket: two sources at 2 MiB/s each deliver 6 MiB together at about 4 MiB/s', async () => {
    const blob = makeBlob(6 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const a = new MemorySource('libp2p:a', blob)
    const b = new MemorySource('libp2p:b', blob)
    const scheduler = fx.scheduler({ directory: directoryOf(() => [a, b]), limits: { perSourceBytesPerSecond: 2 * CHUNK_SIZE } })
    const t0 = Date.now()
    await scheduler.fetch(blob.digests.sha256)
    const seconds = (Date.now() - t0) / 1000
    // Each source: one chunk of burst, then 2 more at 2 MiB/s (≥ 1 s); one source alone would need 2.5 s.
    expect(seconds).toBeGreaterThanOrEqual(0.9)
    expect(seconds).toBeLessThan(2.4)
    expect(a.served.length).toBe(3)
    expect(b.served.length).toBe(3)
  })

  it('caps concurrent downloads: the second waits in the queue until the first is done', async () => {
    const one = makeBlob(2 * CHUNK_SIZE)
    const two = makeBlob(2 * CHUNK_SIZE)
    fx.knowRemote(one)
    fx.knowRemote(two)
    const gate = holdBack()
    const s1 = new MemorySource('libp2p:s1', one, { gate: () => gate.wait() })
    const s2 = new MemorySource('libp2p:s2', two)
    const scheduler = fx.scheduler({ directory: directoryOf(() => [s1, s2]), limits: { maxConcurrentDownloads: 1 } })
    const f1 = scheduler.fetch(one.digests.sha256)
    const f2 = scheduler.fetch(two.digests.sha256)
    await sleep(200)
    const states = Object.fromEntries(scheduler.transfers().map((t) => [t.sha256, t.state]))
    expect(states[one.digests.sha256]).toBe('active')
    expect(states[two.digests.sha256]).toBe('queued')
    expect(s2.requested).toEqual([])
    gate.release()
    await Promise.all([f1, f2])
    expect(scheduler.transfers().every((t) => t.state === 'done')).toBe(true)
  })

  it('partial holders count: a source whose have-map grows during the download is used as it grows', async () => {
    const blob = makeBlob(6 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const held: number[] = [0, 1]
    const growing = new MemorySource('libp2p:growing', blob, { have: () => bitmapFrom(blob.chunks, held) })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [growing]), tuning: { noSourceTimeoutMs: 5000 } })
    const done = scheduler.fetch(blob.digests.sha256)
    // The two chunks it has are taken (bounded wait: a loaded machine may be slow to get there).
    for (const deadline = Date.now() + 5000; new Set(growing.served).size < 2 && Date.now() < deadline; ) await sleep(20)
    await sleep(50)
    expect(new Set(growing.served)).toEqual(new Set([0, 1]))
    held.push(2, 3, 4, 5)
    await done
    expect(new Set(growing.served)).toEqual(new Set([0, 1, 2, 3, 4, 5]))
  })

  it('fails open() with a storage error when no source has the blob', async () => {
    const blob = makeBlob(CHUNK_SIZE)
    fx.knowRemote(blob)
    const scheduler = fx.scheduler({ directory: directoryOf(() => []), tuning: { noSourceTimeoutMs: 200 } })
    await expect(scheduler.open(blob.digests.sha256)).rejects.toMatchObject({ code: 'AK_STORAGE_ERROR' })
    expect(scheduler.transfers()[0]?.state).toBe('failed')
  })
})

describe('scheduler: LocalChunks (what peers may take from this node)', () => {
  it('a partial download serves its verified chunks and announces each one, then "all" at commit', async () => {
    const blob = makeBlob(4 * CHUNK_SIZE)
    fx.knowRemote(blob)
    const gate = holdBack()
    const source = new MemorySource('libp2p:one', blob, { gate: (i) => (i === 3 ? gate.wait() : Promise.resolve()) })
    const scheduler: Scheduler = fx.scheduler({ directory: directoryOf(() => [source]) })
    const announced: HaveMap[] = []
    scheduler.local.onHaveChange((sha, have) => sha === blob.digests.sha256 && announced.push(have))
    const done = scheduler.fetch(blob.digests.sha256)
    const deadline = Date.now() + 5000
    while ((scheduler.transfers()[0]?.chunksHave ?? 0) < 3 && Date.now() < deadline) await sleep(10)
    const have = scheduler.local.have(blob.digests.sha256)
    expect(have).toBeInstanceOf(Uint8Array)
    expect((have as Uint8Array)[0]).toBe(0b0111)
    expect(scheduler.local.manifest(blob.digests.sha256)?.chunks).toEqual(blob.manifest.chunks)
    const chunk1 = await scheduler.local.readChunk(blob.digests.sha256, 1)
    expect(Buffer.from(chunk1 as Uint8Array).equals(blob.data.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE))).toBe(true)
    expect(await scheduler.local.readChunk(blob.digests.sha256, 3)).toBeUndefined()
    gate.release()
    await done
    expect(scheduler.local.have(blob.digests.sha256)).toBe('all')
    expect(announced[announced.length - 1]).toBe('all')
    expect(announced.length).toBe(blob.chunks + 1)
    const chunk3 = await scheduler.local.readChunk(blob.digests.sha256, 3)
    expect(Buffer.from(chunk3 as Uint8Array).equals(blob.data.subarray(3 * CHUNK_SIZE))).toBe(true)
  })

  it('knows nothing of a blob that is neither held nor being downloaded', () => {
    const scheduler = fx.scheduler({ directory: directoryOf(() => [] as ChunkSource[]) })
    expect(scheduler.local.have('0'.repeat(64))).toBeUndefined()
    expect(existsSync(fx.partialDir)).toBe(false)
  })
})

function bitmapFrom(chunks: number, held: number[]): Uint8Array {
  const b = new Uint8Array(Math.ceil(chunks / 8))
  for (const i of held) b[i >> 3] = (b[i >> 3] ?? 0) | (1 << (i & 7))
  return b
}
