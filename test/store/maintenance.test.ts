import { existsSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fsck, gc, HOUR, MINUTE, type BlobDigests } from '../../store/index.ts'
import { blobFile, openTestStore, type StoreFixture } from './store-fixture.ts'

let f: StoreFixture
beforeEach(() => {
  f = openTestStore()
  f.store.repositories.create({ key: 'files', format: 'generic', type: 'local' })
})
afterEach(() => f.close())

async function publish(path: string, content: string): Promise<BlobDigests> {
  const blob = await f.blob(content)
  f.store.artifacts.put({ repo: 'files', path, blob, overwrite: true })
  return blob
}

const runFsck = (repair = false) => fsck(f.store.db, f.store.blobs, f.store.blobIndex, f.store.artifacts, { repair })
const runGc = (graceMs: number, dryRun = false) => gc(f.store.blobs, f.store.blobIndex, { graceMs, dryRun })
const setTouched = (sha256: string, at: number) => f.store.db.prepare('UPDATE blobs SET touched_at = ? WHERE sha256 = ?').run(at, sha256)
const ageFile = (sha256: string, ms: number) => {
  const t = (Date.now() - ms) / 1000
  utimesSync(blobFile(f.blobsDir, sha256), t, t)
}

describe('fsck', () => {
  it('reports a clean store as clean, with every blob rehashed', async () => {
    const a = await publish('a.txt', 'alpha')
    const b = await publish('dir/b.txt', 'bravo bravo')
    await publish('copy-of-a.txt', 'alpha')
    const report = await runFsck()
    expect(report.problems).toEqual([])
    expect(report).toMatchObject({ blobsChecked: 2, artifactsChecked: 3, bytesVerified: a.size + b.size, orphanObjects: 0 })
    expect(report.repaired).toBeUndefined()
  })

  it('finds a blob whose bytes were altered on disk (same size) as blob-corrupt, and --repair removes the artifacts and the bytes', async () => {
    const bad = await publish('bad.txt', 'these bytes will rot')
    await publish('bad-copy.txt', 'these bytes will rot')
    const good = await publish('good.txt', 'these bytes stay')
    const file = blobFile(f.blobsDir, bad.sha256)
    const bytes = readFileSync(file)
    bytes[3] = bytes[3]! ^ 0xff
    writeFileSync(file, bytes)

    const report = await runFsck()
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'blob-corrupt', sha256: bad.sha256 })])
    expect(f.store.artifacts.get('files', 'bad.txt')).toBeDefined() // without --repair nothing changes

    const events = f.store.log.count()
    const repaired = await runFsck(true)
    expect(repaired.repaired).toEqual({ artifactsRemoved: 2, blobsForgotten: 1, objectsDeleted: 1 })
    expect(f.store.artifacts.get('files', 'bad.txt')).toBeUndefined()
    expect(f.store.artifacts.get('files', 'bad-copy.txt')).toBeUndefined()
    expect(f.store.log.count()).toBe(events + 2)
    expect(existsSync(file)).toBe(false)
    expect(f.store.blobIndex.get(bad.sha256)).toBeUndefined()
    expect(f.store.artifacts.get('files', 'good.txt')?.sha256).toBe(good.sha256)
    expect((await runFsck()).problems).toEqual([])
  })

  it('finds a missing blob file as blob-missing and a truncated one as blob-size', async () => {
    const gone = await publish('gone.txt', 'soon gone')
    const short = await publish('short.txt', 'soon shorter')
    rmSync(blobFile(f.blobsDir, gone.sha256))
    truncateSync(blobFile(f.blobsDir, short.sha256), 4)
    const report = await runFsck()
    const kinds = Object.fromEntries(report.problems.map((p) => [p.sha256, p.kind]))
    expect(kinds).toEqual({ [gone.sha256]: 'blob-missing', [short.sha256]: 'blob-size' })
    const repaired = await runFsck(true)
    expect(repaired.repaired).toMatchObject({ artifactsRemoved: 2, blobsForgotten: 2, objectsDeleted: 1 })
    expect(f.store.artifacts.count('files')).toBe(0)
    expect((await runFsck()).problems).toEqual([])
  })

  it('counts stored objects that no row knows as orphans', async () => {
    await f.blob('never referenced')
    expect((await runFsck()).orphanObjects).toBe(1)
  })
})

describe('gc', () => {
  it('deletes unreferenced blobs past the grace period, keeps younger ones and never touches referenced ones', async () => {
    const old = await publish('old.txt', 'old and unreferenced')
    const young = await publish('young.txt', 'young and unreferenced')
    const kept = await publish('kept.txt', 'old but referenced')
    f.store.artifacts.delete('files', 'old.txt')
    f.store.artifacts.delete('files', 'young.txt')
    setTouched(old.sha256, Date.now() - 2 * HOUR)
    setTouched(young.sha256, Date.now() - 1 * MINUTE)
    setTouched(kept.sha256, Date.now() - 2 * HOUR)
    ageFile(old.sha256, 2 * HOUR)
    ageFile(kept.sha256, 2 * HOUR)

    const dry = await runGc(HOUR, true)
    expect(dry).toMatchObject({ blobsDeleted: 1, bytesFreed: old.size, dryRun: true })
    expect(existsSync(blobFile(f.blobsDir, old.sha256))).toBe(true)

    const report = await runGc(HOUR)
    expect(report).toMatchObject({ blobsDeleted: 1, bytesFreed: old.size, orphanObjectsDeleted: 0, dryRun: false })
    expect(existsSync(blobFile(f.blobsDir, old.sha256))).toBe(false)
    expect(f.store.blobIndex.get(old.sha256)).toBeUndefined()
    expect(existsSync(blobFile(f.blobsDir, young.sha256))).toBe(true)
    expect(f.store.blobIndex.get(young.sha256)).toBeDefined()
    expect(existsSync(blobFile(f.blobsDir, kept.sha256))).toBe(true)
    expect(f.store.blobIndex.get(kept.sha256)).toBeDefined()
    expect((await runFsck()).problems).toEqual([])
  })

  it('removes orphan objects (bytes without a row) older than the grace period and keeps fresh ones', async () => {
    const stale = await f.blob('stale orphan from a crashed upload')
    const fresh = await f.blob('an upload about to commit')
    ageFile(stale.sha256, 2 * HOUR)
    const report = await runGc(HOUR)
    expect(report).toMatchObject({ blobsDeleted: 0, orphanObjectsDeleted: 1, bytesFreed: stale.size })
    expect(existsSync(blobFile(f.blobsDir, stale.sha256))).toBe(false)
    expect(existsSync(blobFile(f.blobsDir, fresh.sha256))).toBe(true)
  })

  it('keeps a blob that a new artifact references again before gc runs', async () => {
    const blob = await publish('x.txt', 'reused')
    f.store.artifacts.delete('files', 'x.txt')
    setTouched(blob.sha256, Date.now() - 2 * HOUR)
    ageFile(blob.sha256, 2 * HOUR)
    await publish('y.txt', 'reused')
    expect((await runGc(HOUR)).blobsDeleted).toBe(0)
    expect(existsSync(blobFile(f.blobsDir, blob.sha256))).toBe(true)
  })
})
