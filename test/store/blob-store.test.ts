import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  BlobHasher,
  BodyTimeoutError,
  BodyTooLargeError,
  CHUNK_SIZE,
  ClientAbortedError,
  createBlobStore,
  createFsDriver,
  DigestMismatchError,
  MiB,
  SizeMismatchError,
  type BlobStore,
} from '../../store/index.ts'
import { readAll } from './driver-conformance.ts'

const hex = (alg: string, data: Buffer) => createHash(alg).update(data).digest('hex')

/** The chunk manifest computed independently: sha256 of each 1 MiB slice, concatenated. */
function manifestOf(data: Buffer): Buffer {
  const out: Buffer[] = []
  for (let i = 0; i < data.length; i += CHUNK_SIZE) out.push(createHash('sha256').update(data.subarray(i, i + CHUNK_SIZE)).digest())
  return Buffer.concat(out)
}

/** A source that hands the bytes over in pieces of an awkward size, so chunk boundaries fall inside pieces. */
function pieces(data: Buffer, size = 100_003): Readable {
  const list: Buffer[] = []
  for (let i = 0; i < data.length; i += size) list.push(data.subarray(i, i + size))
  return Readable.from(list)
}

/** Sends `head`, then stays silent forever (until destroyed). */
function stalling(head: Buffer): Readable {
  let sent = false
  return new Readable({
    read() {
      if (!sent) {
        sent = true
        this.push(head)
      }
    },
  })
}

let root: string
let tempDir: string
let blobsDir: string
let store: BlobStore

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ak-blobstore-'))
  tempDir = join(root, 'tmp')
  blobsDir = join(root, 'blobs')
  store = createBlobStore(createFsDriver(blobsDir), tempDir)
})
afterEach(() => rmSync(root, { recursive: true, force: true }))

async function storedKeys(): Promise<string[]> {
  const keys: string[] = []
  for await (const o of store.list()) keys.push(o.key)
  return keys
}

const tempLeftovers = () => {
  try {
    return readdirSync(tempDir)
  } catch {
    return []
  }
}

describe('BlobStore.ingest digests', () => {
  const cases: [string, number][] = [
    ['the empty blob', 0],
    ['a 1-byte blob', 1],
    ['exactly one chunk (1 MiB)', 1 * MiB],
    ['an exact multiple of the chunk size (3 MiB)', 3 * MiB],
    ['a blob of 2.5 MiB (short last chunk)', 2.5 * MiB],
    ['one byte past a chunk boundary', 1 * MiB + 1],
  ]
  it.each(cases)('computes sha256, sha1, md5, sha512, size and chunk manifest equal to node:crypto for %s', async (_label, size) => {
    const data = randomBytes(size)
    const d = await store.ingest(pieces(data))
    expect(d.size).toBe(size)
    expect(d.sha256).toBe(hex('sha256', data))
    expect(d.sha1).toBe(hex('sha1', data))
    expect(d.md5).toBe(hex('md5', data))
    expect(d.sha512).toBe(hex('sha512', data))
    expect(d.chunkManifest.length).toBe(32 * Math.ceil(size / CHUNK_SIZE))
    expect(d.chunkManifest.equals(manifestOf(data))).toBe(true)
    // Buffer.equals, not toEqual: deep equality walks every byte of a multi-MiB buffer slowly.
    expect((await readAll(await store.open(d.sha256))).equals(data)).toBe(true)
    expect(tempLeftovers()).toEqual([])
    const again = await store.rehash(d.sha256)
    expect(again.chunkManifest.equals(d.chunkManifest)).toBe(true)
    expect(again.sha512).toBe(d.sha512)
  })

  it('gives the same digests whatever the piece sizes of the source', async () => {
    const data = randomBytes(2 * MiB + 17)
    const a = await store.ingest(pieces(data, 4099))
    const b = await store.ingest(pieces(data, 4 * MiB))
    expect(a.chunkManifest.equals(b.chunkManifest)).toBe(true)
    expect(a.sha256).toBe(b.sha256)
  }, 30_000)
})

describe('BlobStore.ingest safety', () => {
  it('stores the same bytes once and leaves no temp file for the duplicate', async () => {
    const data = randomBytes(50_000)
    const a = await store.ingest(pieces(data))
    const b = await store.ingest(pieces(data))
    expect(b.sha256).toBe(a.sha256)
    expect(await storedKeys()).toEqual([a.sha256])
    expect(readdirSync(join(blobsDir, 'sha256', a.sha256.slice(0, 2)))).toEqual([a.sha256])
    expect(tempLeftovers()).toEqual([])
  })

  it('refuses a body over maxBytes with BodyTooLargeError, stores nothing and leaves no temp file', async () => {
    await expect(store.ingest(pieces(randomBytes(300_000)), { maxBytes: 200_000 })).rejects.toBeInstanceOf(BodyTooLargeError)
    expect(await storedKeys()).toEqual([])
    expect(tempLeftovers()).toEqual([])
    // Exactly maxBytes is allowed.
    const d = await store.ingest(pieces(randomBytes(200_000)), { maxBytes: 200_000 })
    expect(d.size).toBe(200_000)
  })

  it.each(['sha256', 'sha1', 'md5'] as const)('refuses a %s that does not match with DigestMismatchError and stores nothing', async (alg) => {
    const data = randomBytes(10_000)
    const wrong = hex(alg, randomBytes(10))
    const err = await store.ingest(pieces(data), { expected: { [alg]: wrong } }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DigestMismatchError)
    expect((err as DigestMismatchError).details).toMatchObject({ algorithm: alg, expected: wrong, actual: hex(alg, data) })
    expect(await storedKeys()).toEqual([])
    expect(tempLeftovers()).toEqual([])
  })

  it('accepts matching expected digests, in upper case too', async () => {
    const data = randomBytes(10_000)
    const d = await store.ingest(pieces(data), {
      expected: { sha256: hex('sha256', data).toUpperCase(), sha1: hex('sha1', data), md5: hex('md5', data) },
    })
    expect(await storedKeys()).toEqual([d.sha256])
  })

  it.each([
    ['fewer', 999],
    ['more', 1001],
  ])('refuses a body with %s bytes than expectedSize with SizeMismatchError and stores nothing', async (_label, size) => {
    await expect(store.ingest(pieces(randomBytes(size)), { expectedSize: 1000 })).rejects.toBeInstanceOf(SizeMismatchError)
    expect(await storedKeys()).toEqual([])
    expect(tempLeftovers()).toEqual([])
  })

  it('turns a source error into ClientAbortedError and leaves nothing behind', async () => {
    let n = 0
    const source = new Readable({
      read() {
        if (n++ < 3) this.push(randomBytes(64 * 1024))
        else this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      },
    })
    await expect(store.ingest(source)).rejects.toBeInstanceOf(ClientAbortedError)
    expect(await storedKeys()).toEqual([])
    expect(tempLeftovers()).toEqual([])
  })

  it('turns an abort of the caller signal into ClientAbortedError and leaves nothing behind', async () => {
    const controller = new AbortController()
    const source = stalling(randomBytes(1000))
    const pending = store.ingest(source, { signal: controller.signal })
    setTimeout(() => controller.abort(), 50)
    await expect(pending).rejects.toBeInstanceOf(ClientAbortedError)
    expect(source.destroyed).toBe(true)
    expect(tempLeftovers()).toEqual([])
  })

  it('fails with BodyTimeoutError when the source stays silent past idleTimeoutMs, and destroys the source', async () => {
    const source = stalling(randomBytes(1000))
    const started = Date.now()
    await expect(store.ingest(source, { idleTimeoutMs: 150 })).rejects.toBeInstanceOf(BodyTimeoutError)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(source.destroyed).toBe(true)
    expect(await storedKeys()).toEqual([])
    expect(tempLeftovers()).toEqual([])
  })

  it('does not time out a slow source that keeps sending', async () => {
    let n = 0
    const source = new Readable({
      read() {
        setTimeout(() => this.push(n++ < 6 ? Buffer.alloc(100, n) : null), 40)
      },
    })
    const d = await store.ingest(source, { idleTimeoutMs: 150 })
    expect(d.size).toBe(600)
  })

  it('cleanTemp removes leftovers of unfinished ingests', async () => {
    await store.ingest(pieces(randomBytes(10)))
    writeFileSync(join(tempDir, 'ingest-crashed'), 'partial')
    expect(await store.cleanTemp()).toBe(1)
    expect(tempLeftovers()).toEqual([])
  })
})

describe('regressions', () => {
  it('lets a process that hashed blobs exit on its own (idle hashing threads hold no reference)', () => {
    // Bug: the hashing pool unref()ed its worker threads before adding their 'message' listeners,
    // which on Node 20 refs them again: `ak fsck` printed its report and then never exited.
    const storeIndex = resolve(import.meta.dirname, '../../store/index.ts')
    const code = `
      const { Readable } = await import('node:stream')
      const { mkdtempSync } = await import('node:fs')
      const { tmpdir } = await import('node:os')
      const { join } = await import('node:path')
      const { createBlobStore, createMemoryDriver } = await import(${JSON.stringify(storeIndex)})
      const store = createBlobStore(createMemoryDriver(), mkdtempSync(join(tmpdir(), 'ak-exit-')))
      const small = await store.ingest(Readable.from([Buffer.from('tiny')]))
      const big = await store.ingest(Readable.from([Buffer.alloc(3 * 1024 * 1024, 7)]))
      await store.rehash(big.sha256)
      process.stdout.write(small.size + ' ' + big.size)`
    // A script file, not `-e --input-type=module`: worker threads inherit execArgv, and that flag
    // would make the hashing threads' (CommonJS) source fail to load.
    const script = join(root, 'child.mjs')
    writeFileSync(script, code)
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { timeout: 30_000, encoding: 'utf8' })
    expect(child.stderr).toBe('')
    expect(child.stdout).toBe(`4 ${3 * 1024 * 1024}`)
    expect(child.error, 'the process did not exit within 30 s').toBeUndefined()
    expect(child.status).toBe(0)
  })
})

describe('BlobStore.adopt', () => {
  const fileWith = (bytes: Buffer) => {
    const dir = join(root, 'incoming')
    mkdirSync(dir, { recursive: true })
    const path = join(dir, `f-${Math.random()}`)
    writeFileSync(path, bytes)
    return path
  }
  const digestsOf = (bytes: Buffer) => {
    const h = new BlobHasher()
    h.update(bytes)
    return h.digest()
  }

  it('moves a file hashed by its writer into the store, and drops a second copy of the same bytes', async () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 5)
    const d = digestsOf(bytes)
    const first = fileWith(bytes)
    expect(await store.adopt(first, d, { sha256: d.sha256 })).toEqual(d)
    expect(existsSync(first)).toBe(false)
    expect(await readAll(await store.open(d.sha256))).toEqual(bytes)
    const second = fileWith(bytes)
    await store.adopt(second, d)
    expect(existsSync(second)).toBe(false)
    expect(await storedKeys()).toEqual([d.sha256])
  })

  it('refuses a file whose announced digest or size does not match, storing nothing and leaving the file', async () => {
    const bytes = randomBytes(4096)
    const d = digestsOf(bytes)
    const path = fileWith(bytes)
    await expect(store.adopt(path, d, { sha256: '0'.repeat(64) })).rejects.toMatchObject({ code: 'AK_DIGEST_MISMATCH' })
    await expect(store.adopt(path, { ...d, size: d.size + 1 })).rejects.toMatchObject({ code: 'AK_SIZE_MISMATCH' })
    expect(existsSync(path)).toBe(true)
    expect(await storedKeys()).toEqual([])
  })
})
