import { mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  BodyTimeoutError,
  bodyWatchdog,
  consumeGuarded,
  createBlobStore,
  createFreeSpaceMonitor,
  createMemoryDriver,
  InsufficientStorageError,
  isStorageFull,
  rateSampleInterval,
  toDomainError,
  UploadTooSlowError,
  type BlobStore,
} from '../../store/index.ts'

/** Pushes `bytes` every `everyMs` until destroyed (or `total` bytes, then ends). */
function dripping(bytes: number, everyMs: number, total = Infinity): Readable {
  let sent = 0
  let timer: NodeJS.Timeout | undefined
  return new Readable({
    read() {
      if (timer) return
      timer = setInterval(() => {
        if (sent >= total) {
          clearInterval(timer)
          this.push(null)
          return
        }
        sent += bytes
        this.push(Buffer.alloc(bytes, 1))
      }, everyMs)
    },
    destroy(err, done) {
      clearInterval(timer)
      done(err)
    },
  })
}

const aborted = (signal: AbortSignal) => new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }))

describe('bodyWatchdog', () => {
  it('samples a few times per window, at most once a second', () => {
    expect(rateSampleInterval(60_000)).toBe(1000)
    expect(rateSampleInterval(2000)).toBe(500)
    expect(rateSampleInterval(1)).toBe(10)
  })

  it('aborts with UploadTooSlowError once a whole window ran below the minimum rate', async () => {
    const started = Date.now()
    const w = bodyWatchdog({ idleTimeoutMs: 60_000, minBytesPerSecond: 1000, rateWindowMs: 300 })
    const drip = setInterval(() => w.touch(5), 20) // 250 bytes/s
    const reason = await aborted(w.signal)
    clearInterval(drip)
    expect(reason).toBeInstanceOf(UploadTooSlowError)
    expect((reason as UploadTooSlowError).code).toBe('AK_UPLOAD_TOO_SLOW')
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('never aborts a body above the minimum rate', async () => {
    const w = bodyWatchdog({ idleTimeoutMs: 60_000, minBytesPerSecond: 1000, rateWindowMs: 200 })
    const drip = setInterval(() => w.touch(200), 20) // 10 kB/s
    await new Promise((r) => setTimeout(r, 800))
    clearInterval(drip)
    expect(w.signal.aborted).toBe(false)
    w.stop()
  })

  it('does not blame the client while the node is not reading (the source buffer is full)', async () => {
    const source = new Readable({ read() {}, highWaterMark: 4 })
    source.push(Buffer.alloc(8)) // nobody reads: our backpressure, not the client's slowness
    const w = bodyWatchdog({ idleTimeoutMs: 60_000, minBytesPerSecond: 1000, rateWindowMs: 100 }, { source })
    await new Promise((r) => setTimeout(r, 500))
    expect(w.signal.aborted).toBe(false)
    w.stop()
  })

  it('still times out silence, and follows its parent signal', async () => {
    const idle = bodyWatchdog({ idleTimeoutMs: 100 })
    expect(await aborted(idle.signal)).toBeInstanceOf(BodyTimeoutError)
    const parent = new AbortController()
    const child = bodyWatchdog({ idleTimeoutMs: 60_000 }, { parent: parent.signal })
    parent.abort(new Error('client gone'))
    expect(child.signal.aborted).toBe(true)
    expect((child.signal.reason as Error).message).toBe('client gone')
  })

  it('consumeGuarded stops a trickling source with UploadTooSlowError', async () => {
    const source = dripping(1, 20)
    await expect(consumeGuarded(source, { idleTimeoutMs: 60_000, minBytesPerSecond: 1000, rateWindowMs: 200 }, () => {})).rejects.toBeInstanceOf(UploadTooSlowError)
    expect(source.destroyed).toBe(true)
  })
})

describe('BlobStore.ingest under the body limits', () => {
  let dir: string
  let store: BlobStore
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ak-guard-'))
    store = createBlobStore(createMemoryDriver(), join(dir, 'tmp'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('cuts a source slower than the minimum and leaves no temp file', async () => {
    const source = dripping(10, 50)
    await expect(store.ingest(source, { idleTimeoutMs: 60_000, minBytesPerSecond: 1024, rateWindowMs: 300 })).rejects.toBeInstanceOf(UploadTooSlowError)
    expect(source.destroyed).toBe(true)
    expect(readdirSync(join(dir, 'tmp'))).toEqual([])
  })

  it('takes a source that is fast enough however long it runs', async () => {
    const d = await store.ingest(dripping(1000, 10, 60_000), { idleTimeoutMs: 60_000, minBytesPerSecond: 1024, rateWindowMs: 200 })
    expect(d.size).toBe(60_000)
  })
})

describe('free space', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ak-space-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))
  const free = () => {
    const s = statfsSync(dir)
    return s.bavail * s.bsize
  }

  it('reads the free space at once and refuses nothing while it is above the minimum', () => {
    const m = createFreeSpaceMonitor({ path: dir, minFreeBytes: 0 })
    expect(m.freeBytes).toBeGreaterThan(0)
    expect(m.low).toBe(false)
    expect(m.reason).toBeUndefined()
    expect(() => m.check(1024)).not.toThrow()
    // An announced size that does not fit is refused before a byte is read.
    expect(() => m.check(free() * 2)).toThrow(InsufficientStorageError)
    m.close()
  })

  it('is low below the minimum, says why, and refuses uploads (the full-disk test covers recovery)', async () => {
    const m = createFreeSpaceMonitor({ path: dir, minFreeBytes: free() * 4, refreshMs: 60_000 })
    expect(m.low).toBe(true)
    expect(m.reason).toMatch(/below the minimum of \d+ \(AK_MIN_FREE_BYTES\)/)
    expect(() => m.check()).toThrow(InsufficientStorageError)
    const store = createBlobStore(createMemoryDriver(), join(dir, 'tmp'), { space: m })
    await expect(store.ingest(Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(InsufficientStorageError)
    expect(() => store.checkSpace()).toThrow(InsufficientStorageError)
    await m.refresh()
    expect(m.low).toBe(true)
    m.close()
  })
})

describe('storage-full errors', () => {
  it('recognises ENOSPC, EDQUOT and SQLITE_FULL, also as a cause', () => {
    expect(isStorageFull(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBe(true)
    expect(isStorageFull(Object.assign(new Error('quota'), { code: 'EDQUOT' }))).toBe(true)
    expect(isStorageFull(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe(true)
    expect(isStorageFull(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ENOSPC' }) }))).toBe(true)
    expect(isStorageFull(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false)
    expect(toDomainError(Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toBeInstanceOf(InsufficientStorageError)
    const other = new Error('other')
    expect(toDomainError(other)).toBe(other)
  })
})
