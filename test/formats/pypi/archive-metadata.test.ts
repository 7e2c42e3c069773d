import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import yazl from 'yazl'
import { beforeAll, describe, expect, it } from 'vitest'
import { readSdistPkgInfo, readWheelMetadata, type StoredFile } from '../../../formats/pypi/index.ts'
import { createBlobStore, createMemoryDriver, type BlobStore } from '../../../store/index.ts'
import { tempDir } from '../../helpers/node-process.ts'
import { buildBombWheel, buildSdist, buildWheel, coreMetadata } from '../../e2e/pypi/dists.ts'

// Metadata extraction reads stored archives by range and stream, bounded at every step.

let blobs: BlobStore
beforeAll(() => {
  blobs = createBlobStore(createMemoryDriver(), tempDir('ak-pypi-unit-'))
})

async function store(bytes: Buffer): Promise<StoredFile> {
  const d = await blobs.ingest(Readable.from([bytes]))
  return { blobs, sha256: d.sha256, size: d.size }
}

async function zipOf(entries: Record<string, string | Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  for (const [p, c] of Object.entries(entries)) zip.addBuffer(Buffer.from(c), p)
  zip.end()
  const chunks: Buffer[] = []
  for await (const c of zip.outputStream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

async function tarGz(entries: [string, string | Buffer][]): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (c: unknown) => chunks.push(c as Buffer))
  const ended = new Promise<void>((r) => pack.on('end', () => r()))
  for (const [name, c] of entries) pack.entry({ name }, Buffer.from(c))
  pack.finalize()
  await ended
  return gzipSync(Buffer.concat(chunks))
}

describe('wheel METADATA extraction', () => {
  it('returns the exact METADATA bytes of the one .dist-info directory', async () => {
    const meta = coreMetadata({ name: 'ak-x', version: '1.0', requiresPython: '>=3.8' })
    const wheel = await buildWheel({ name: 'ak-x', version: '1.0', files: { 'ak_x.py': '' }, metadata: meta })
    expect((await readWheelMetadata(await store(wheel), 'ak_x')).toString()).toBe(meta)
  })

  it('finds METADATA behind a central directory larger than one read window', async () => {
    const files: Record<string, string> = {}
    for (let i = 0; i < 2000; i++) files[`ak_many/${'m'.repeat(40)}${i}.py`] = ''
    const wheel = await buildWheel({ name: 'ak-many', version: '1.0', files })
    const stored = await store(wheel)
    let opens = 0
    const counting: BlobStore = { ...blobs, open: (sha, range) => (opens++, blobs.open(sha, range)) }
    expect((await readWheelMetadata({ ...stored, blobs: counting }, 'ak_many')).toString()).toContain('Name: ak-many')
    // The directory is read once, not a range request per entry (slow on S3).
    expect(opens).toBeLessThanOrEqual(4)
  })

  it('refuses zero or several .dist-info directories, a foreign one, and a missing WHEEL', async () => {
    const meta = coreMetadata({ name: 'a', version: '1' })
    const none = await zipOf({ 'a/__init__.py': '' })
    await expect(readWheelMetadata(await store(none), 'a')).rejects.toThrow(/no \.dist-info/)
    const two = await zipOf({ 'a-1.dist-info/METADATA': meta, 'a-1.dist-info/WHEEL': '', 'b-1.dist-info/METADATA': meta })
    await expect(readWheelMetadata(await store(two), 'a')).rejects.toThrow(/several \.dist-info/)
    const foreign = await zipOf({ 'b-1.dist-info/METADATA': meta, 'b-1.dist-info/WHEEL': '' })
    await expect(readWheelMetadata(await store(foreign), 'a')).rejects.toThrow(/does not belong/)
    const noWheel = await zipOf({ 'a-1.dist-info/METADATA': meta })
    await expect(readWheelMetadata(await store(noWheel), 'a')).rejects.toThrow(/no a-1\.dist-info\/WHEEL/)
  })

  it('refuses archives listing more entries than allowed, before reading them', async () => {
    const wheel = await buildWheel({ name: 'a', version: '1', files: { 'a/1.py': '', 'a/2.py': '', 'a/3.py': '' } })
    await expect(readWheelMetadata(await store(wheel), 'a', { maxEntries: 4 })).rejects.toThrow(/exceed the maximum of 4/)
  })

  it('stops inflating a METADATA bomb at its declared size', async () => {
    const bomb = await buildBombWheel('a', '1', 8 * 1024 * 1024, 500)
    await expect(readWheelMetadata(await store(bomb), 'a')).rejects.toThrow(/zip bomb/)
    const honestButHuge = await buildBombWheel('a', '1', 4096, 4096 + 200)
    await expect(readWheelMetadata(await store(honestButHuge), 'a', { maxMetadataBytes: 1024 })).rejects.toThrow(/declares/)
  })

  it('refuses bytes that are not a zip, and a truncated zip', async () => {
    await expect(readWheelMetadata(await store(Buffer.from('PK not really')), 'a')).rejects.toThrow(/Invalid wheel/)
    const wheel = await buildWheel({ name: 'a', version: '1', files: { 'a.py': 'x' } })
    await expect(readWheelMetadata(await store(wheel.subarray(0, wheel.length - 30)), 'a')).rejects.toThrow(/Invalid wheel/)
  })
})

describe('sdist PKG-INFO extraction', () => {
  it('returns the top-level PKG-INFO, not a nested one', async () => {
    const s = await tarGz([
      ['a-1/sub/PKG-INFO', 'nested'],
      ['a-1/PKG-INFO', 'Metadata-Version: 2.1\nName: a\nVersion: 1\n'],
    ])
    expect((await readSdistPkgInfo(await store(s))).toString()).toContain('Name: a')
    const built = await buildSdist({ name: 'b', version: '2', files: {} })
    expect((await readSdistPkgInfo(await store(built))).toString()).toContain('Version: 2')
  })

  it('gives up on a decompression bomb after the scan limit', async () => {
    const bomb = await tarGz([['a-1/zeros.bin', Buffer.alloc(4 * 1024 * 1024)], ['a-1/PKG-INFO', 'Name: a']])
    expect(bomb.length).toBeLessThan(64 * 1024)
    await expect(readSdistPkgInfo(await store(bomb), { maxScanBytes: 1024 * 1024 })).rejects.toThrow(/decompresses to more than/)
  })

  it('gives up after too many entries, and refuses an oversized PKG-INFO', async () => {
    const many = await tarGz([...Array.from({ length: 20 }, (_, i): [string, string] => [`a-1/f${i}`, '']), ['a-1/PKG-INFO', 'x']])
    await expect(readSdistPkgInfo(await store(many), { maxEntries: 10 })).rejects.toThrow(/more than 10 entries/)
    const big = await tarGz([['a-1/PKG-INFO', Buffer.alloc(5000, 0x41)]])
    await expect(readSdistPkgInfo(await store(big), { maxMetadataBytes: 4096 })).rejects.toThrow(/is larger than/)
  })

  it('refuses a gzip of something that is not a tar, and plain bytes', async () => {
    await expect(readSdistPkgInfo(await store(gzipSync(Buffer.alloc(4096, 7))))).rejects.toThrow(/Invalid source distribution/)
    await expect(readSdistPkgInfo(await store(Buffer.from('plain')))).rejects.toThrow(/not a gzip-compressed tar archive/)
  })
})
