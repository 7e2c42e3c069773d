import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { UploadManager } from '../../../formats/oci/index.ts'

describe('UploadManager (uploads in progress as temp files)', () => {
  let dir: string
  let uploads: UploadManager
  const opts = { maxBytes: 1000, location: '/v2/r/a/blobs/uploads/x' }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ak-oci-uploads-'))
    uploads = new UploadManager({ dir: join(dir, 'uploads'), idleTtlMs: 60_000, sweepIntervalMs: 60_000 })
  })
  afterEach(async () => {
    await uploads.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('appends chunks to one file and reads the whole upload back', async () => {
    const s = await uploads.create('r', 'r/a')
    await uploads.append(s, Readable.from([Buffer.from('hello ')]), { ...opts, start: 0 })
    await uploads.append(s, Readable.from([Buffer.from('world')]), opts)
    expect(s.size).toBe(11)
    expect(readFileSync(s.file, 'utf8')).toBe('hello world')
    const chunks: Buffer[] = []
    for await (const c of uploads.read(s)) chunks.push(c as Buffer)
    expect(Buffer.concat(chunks).toString()).toBe('hello world')
  })

  it('refuses a chunk that does not start at the end of the upload', async () => {
    const s = await uploads.create('r', 'r/a')
    await uploads.append(s, Readable.from([Buffer.from('abc')]), opts)
    await expect(uploads.append(s, Readable.from([Buffer.from('x')]), { ...opts, start: 5 })).rejects.toMatchObject({
      code: 'OCI_UPLOAD_OUT_OF_ORDER',
      details: { size: 3, location: opts.location, uuid: s.uuid },
    })
    expect(s.size).toBe(3)
  })

  it('cuts the file back to where it was when a chunk fails midway, so the client can resume', async () => {
    const s = await uploads.create('r', 'r/a')
    await uploads.append(s, Readable.from([Buffer.from('good')]), opts)
    const broken = new Readable({
      read() {
        this.push(Buffer.from('half'))
        this.destroy(new Error('connection reset'))
      },
    })
    await expect(uploads.append(s, broken, opts)).rejects.toMatchObject({ code: 'AK_CLIENT_ABORTED' })
    expect(s.size).toBe(4)
    expect(readFileSync(s.file, 'utf8')).toBe('good')
    await expect(uploads.append(s, Readable.from([Buffer.alloc(1200)]), opts)).rejects.toMatchObject({ code: 'AK_BODY_TOO_LARGE' })
    expect(readFileSync(s.file, 'utf8')).toBe('good')
    await expect(uploads.append(s, Readable.from([Buffer.from('abc')]), { ...opts, length: 5 })).rejects.toMatchObject({
      code: 'AK_SIZE_MISMATCH',
    })
    expect(readFileSync(s.file, 'utf8')).toBe('good')
  })

  it('knows a session only under the name it was started with', async () => {
    const s = await uploads.create('r', 'r/a')
    expect(uploads.get(s.uuid, 'r/a')).toBe(s)
    expect(() => uploads.get(s.uuid, 'r/b')).toThrow(expect.objectContaining({ code: 'OCI_BLOB_UPLOAD_UNKNOWN' }))
    expect(() => uploads.get('nope', 'r/a')).toThrow(expect.objectContaining({ code: 'OCI_BLOB_UPLOAD_UNKNOWN' }))
  })

  it('sweeps sessions idle past the TTL, deleting their files', async () => {
    const idle = await uploads.create('r', 'r/a')
    const fresh = await uploads.create('r', 'r/a')
    idle.touchedAt -= 120_000
    expect(() => uploads.get(idle.uuid, 'r/a')).toThrow(expect.objectContaining({ code: 'OCI_BLOB_UPLOAD_UNKNOWN' }))
    expect(await uploads.sweep()).toBe(1)
    expect(existsSync(idle.file)).toBe(false)
    expect(existsSync(fresh.file)).toBe(true)
    expect(uploads.count).toBe(1)
  })
})

describe('upload sessions hash as chunks arrive', () => {
  it('has every digest of the finished upload ready, equal to hashing the file, and drops the hash after a failed chunk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ak-oci-hash-'))
    const manager = new UploadManager({ dir, idleTtlMs: 60_000, sweepIntervalMs: 60_000 })
    try {
      const a = randomBytes(3 * 1024 * 1024 + 17)
      const b = randomBytes(700_000)
      const s = await manager.create('r', 'r/a')
      await manager.append(s, Readable.from([a]), { maxBytes: 64 * 1024 * 1024, location: '/x' })
      await manager.append(s, Readable.from([b]), { maxBytes: 64 * 1024 * 1024, location: '/x' })
      const digests = await (s.hasher as NonNullable<typeof s.hasher>).digest()
      const whole = Buffer.concat([a, b])
      expect(digests.size).toBe(whole.length)
      expect(digests.sha256).toBe(createHash('sha256').update(whole).digest('hex'))
      expect(digests.md5).toBe(createHash('md5').update(whole).digest('hex'))
      expect(digests.sha512).toBe(createHash('sha512').update(whole).digest('hex'))

      const t = await manager.create('r', 'r/a')
      const broken = new Readable({
        read() {
          this.push(Buffer.from('half'))
          this.destroy(new Error('connection reset'))
        },
      })
      await expect(manager.append(t, broken, { maxBytes: 1024, location: '/x' })).rejects.toMatchObject({ code: 'AK_CLIENT_ABORTED' })
      // The file was cut back; a hash cannot be, so finishing falls back to hashing the file.
      expect(t.hasher).toBeUndefined()
    } finally {
      await manager.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
