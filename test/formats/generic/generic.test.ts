import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MiB } from '../../../store/index.ts'
import { ADMIN_BASIC, basic, startTestNode, type TestNode } from '../../helpers/test-node.ts'
// Spelled from the root: '../../node/…' reads as the top-level node/ folder to the import linter.
import { addRepo, addUser, call, type Call } from '../../../test/node/fixtures.ts'

const hex = (alg: string, data: Buffer | string) => createHash(alg).update(data).digest('hex')

let t: TestNode
const as = (c: Call = {}): Call => ({ auth: ADMIN_BASIC, ...c })
const req = (method: 'GET' | 'HEAD' | 'PUT' | 'DELETE', url: string, c: Call = {}) => call(t.node.app, method, url, as(c))

async function blobKeys(): Promise<string[]> {
  const keys: string[] = []
  for await (const o of t.node.store.blobs.list()) keys.push(o.key)
  return keys
}

beforeAll(async () => {
  t = await startTestNode()
  addRepo(t.node.store, 'files')
  addRepo(t.node.store, 'frozen', { immutable: true })
  addRepo(t.node.store, 'npmish', { format: 'npm' })
})
afterAll(() => t?.close())

describe('generic format: publish and fetch', () => {
  const content = Buffer.from('hello, artifact keeper\n')

  it('PUT stores a file (201 with its checksums), GET returns the bytes with its content type, HEAD only the headers', async () => {
    const put = await req('PUT', '/generic/files/docs/hello.txt', { body: content, headers: { 'content-type': 'text/plain' } })
    expect(put.statusCode).toBe(201)
    expect(put.json()).toMatchObject({
      repo: 'files',
      path: 'docs/hello.txt',
      size: content.length,
      checksums: { sha256: hex('sha256', content), sha1: hex('sha1', content), md5: hex('md5', content), sha512: hex('sha512', content) },
    })
    expect(put.headers.location).toMatch(/\/generic\/files\/docs\/hello\.txt$/)

    const get = await req('GET', '/generic/files/docs/hello.txt')
    expect(get.statusCode).toBe(200)
    expect(get.rawPayload.equals(content)).toBe(true)
    expect(get.headers['content-type']).toBe('text/plain')
    expect(get.headers['content-length']).toBe(String(content.length))
    expect(get.headers['x-checksum-sha256']).toBe(hex('sha256', content))
    expect(get.headers['x-checksum-sha1']).toBe(hex('sha1', content))
    expect(get.headers['x-checksum-md5']).toBe(hex('md5', content))
    expect(get.headers.etag).toBe(`"${hex('sha256', content)}"`)
    expect(get.headers['accept-ranges']).toBe('bytes')

    const head = await req('HEAD', '/generic/files/docs/hello.txt')
    expect(head.statusCode).toBe(200)
    expect(head.payload).toBe('')
    expect(head.headers['content-length']).toBe(String(content.length))
    expect(head.headers['x-checksum-sha256']).toBe(hex('sha256', content))
  })

  it('streams a multi-chunk file (2.5 MiB) in and out unchanged', async () => {
    const big = randomBytes(2.5 * MiB)
    expect((await req('PUT', '/generic/files/big.bin', { body: big })).statusCode).toBe(201)
    const get = await req('GET', '/generic/files/big.bin')
    expect(hex('sha256', get.rawPayload)).toBe(hex('sha256', big))
    const record = t.node.store.blobIndex.get(hex('sha256', big))
    expect(record?.chunkManifest.length).toBe(3 * 32)
  })

  it('replaces a file in a mutable repository (200) and serves the new bytes', async () => {
    await req('PUT', '/generic/files/replace.txt', { body: 'one' })
    const again = await req('PUT', '/generic/files/replace.txt', { body: 'two' })
    expect(again.statusCode).toBe(200)
    expect((await req('GET', '/generic/files/replace.txt')).payload).toBe('two')
  })

  it('DELETE removes a file (204), after which GET is 404 JSON', async () => {
    await req('PUT', '/generic/files/gone.txt', { body: 'bye' })
    expect((await req('DELETE', '/generic/files/gone.txt')).statusCode).toBe(204)
    const get = await req('GET', '/generic/files/gone.txt')
    expect(get.statusCode).toBe(404)
    expect(get.json()).toMatchObject({ error: 'AK_ARTIFACT_NOT_FOUND' })
    expect((await req('DELETE', '/generic/files/gone.txt')).statusCode).toBe(404)
  })

  it('answers an unknown repository with 404 and a repository of another format with 400', async () => {
    expect((await req('GET', '/generic/nope/x.txt')).statusCode).toBe(404)
    const other = await req('GET', '/generic/npmish/x.txt')
    expect(other.statusCode).toBe(400)
    expect(other.json()).toMatchObject({ error: 'AK_FORMAT_MISMATCH' })
  })

  it('stores the empty file', async () => {
    expect((await req('PUT', '/generic/files/empty', { body: '' })).statusCode).toBe(201)
    const get = await req('GET', '/generic/files/empty')
    expect(get.statusCode).toBe(200)
    expect(get.payload).toBe('')
    expect(get.headers['content-length']).toBe('0')
  })
})

describe('generic format: ranges and conditional requests', () => {
  const body = Buffer.from('0123456789abcdefghij') // 20 bytes
  beforeAll(async () => {
    expect((await req('PUT', '/generic/files/range.bin', { body })).statusCode).toBe(201)
  })
  const range = (value: string, extra: Record<string, string> = {}) =>
    req('GET', '/generic/files/range.bin', { headers: { range: value, ...extra } })

  it.each([
    ['a single range', 'bytes=2-5', 2, 5],
    ['a suffix range', 'bytes=-3', 17, 19],
    ['an open-ended range', 'bytes=15-', 15, 19],
    ['a range past the end, clamped', 'bytes=18-100', 18, 19],
    ['a suffix longer than the file', 'bytes=-50', 0, 19],
  ])('serves %s as 206 with Content-Range', async (_label, header, start, end) => {
    const r = await range(header)
    expect(r.statusCode).toBe(206)
    expect(r.headers['content-range']).toBe(`bytes ${start}-${end}/20`)
    expect(r.headers['content-length']).toBe(String(end - start + 1))
    expect(r.payload).toBe(body.subarray(start, end + 1).toString())
  })

  it.each(['bytes=20-', 'bytes=100-200', 'bytes=-0'])('answers the unsatisfiable range %s with 416 and Content-Range bytes */20', async (header) => {
    const r = await range(header)
    expect(r.statusCode).toBe(416)
    expect(r.headers['content-range']).toBe('bytes */20')
    expect(r.json()).toMatchObject({ error: 'AK_RANGE_NOT_SATISFIABLE' })
  })

  it('ignores a range with another unit and sends the whole file', async () => {
    const r = await range('lines=1-2')
    expect(r.statusCode).toBe(200)
    expect(r.payload).toBe(body.toString())
  })

  it('answers If-None-Match with the ETag by 304, and another ETag with the file', async () => {
    const etag = (await req('GET', '/generic/files/range.bin')).headers.etag as string
    expect(etag).toBe(`"${hex('sha256', body)}"`)
    const hit = await req('GET', '/generic/files/range.bin', { headers: { 'if-none-match': etag } })
    expect(hit.statusCode).toBe(304)
    expect(hit.payload).toBe('')
    expect((await req('GET', '/generic/files/range.bin', { headers: { 'if-none-match': `W/${etag}, "other"` } })).statusCode).toBe(304)
    const miss = await req('GET', '/generic/files/range.bin', { headers: { 'if-none-match': '"something-else"' } })
    expect(miss.statusCode).toBe(200)
    expect(miss.payload).toBe(body.toString())
  })

  it('answers If-Modified-Since by 304 when unchanged since, and with the file when modified after', async () => {
    const lastModified = (await req('GET', '/generic/files/range.bin')).headers['last-modified'] as string
    expect((await req('GET', '/generic/files/range.bin', { headers: { 'if-modified-since': lastModified } })).statusCode).toBe(304)
    const earlier = new Date(Date.parse(lastModified) - 60_000).toUTCString()
    expect((await req('GET', '/generic/files/range.bin', { headers: { 'if-modified-since': earlier } })).statusCode).toBe(200)
  })
})

describe('generic format: checksum-verified uploads', () => {
  const data = Buffer.from('verified payload')
  it.each([
    ['x-checksum-sha256', 'sha256'],
    ['x-checksum-sha1', 'sha1'],
    ['x-checksum-md5', 'md5'],
  ])('accepts a correct %s', async (header, alg) => {
    const r = await req('PUT', `/generic/files/ok-${alg}.txt`, { body: data, headers: { [header]: hex(alg, data) } })
    expect(r.statusCode).toBe(201)
  })

  it.each([
    ['x-checksum-sha256', 'sha256'],
    ['x-checksum-sha1', 'sha1'],
    ['x-checksum-md5', 'md5'],
  ])('refuses a wrong %s with 400, storing and listing nothing', async (header, alg) => {
    const payload = randomBytes(1000)
    const r = await req('PUT', `/generic/files/wrong/${alg}.bin`, { body: payload, headers: { [header]: hex(alg, 'other bytes') } })
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({ error: 'AK_DIGEST_MISMATCH' })
    expect(t.node.store.artifacts.get('files', `wrong/${alg}.bin`)).toBeUndefined()
    expect(await blobKeys()).not.toContain(hex('sha256', payload))
    expect((await req('GET', '/generic/files/wrong/')).statusCode).toBe(404)
    const root = (await req('GET', '/generic/files/')).json<{ children: { name: string }[] }>()
    expect(root.children.map((c) => c.name)).not.toContain('wrong')
  })

  it('refuses a checksum header that is not hex of the right length with 400', async () => {
    const r = await req('PUT', '/generic/files/bad-header.txt', { body: data, headers: { 'x-checksum-sha1': 'xyz' } })
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({ error: 'AK_INVALID_INPUT' })
    expect(t.node.store.artifacts.get('files', 'bad-header.txt')).toBeUndefined()
  })
})

describe('generic format: immutable repositories', () => {
  it('refuses different bytes on an existing path with 409, accepts the same bytes again', async () => {
    expect((await req('PUT', '/generic/frozen/release-1.0.tgz', { body: 'v1' })).statusCode).toBe(201)
    const clash = await req('PUT', '/generic/frozen/release-1.0.tgz', { body: 'v1 but different' })
    expect(clash.statusCode).toBe(409)
    expect(clash.json()).toMatchObject({ error: 'AK_ARTIFACT_IMMUTABLE' })
    expect((await req('GET', '/generic/frozen/release-1.0.tgz')).payload).toBe('v1')
    expect((await req('PUT', '/generic/frozen/release-1.0.tgz', { body: 'v1' })).statusCode).toBe(200)
  })

  it('lets a writer without delete re-upload the same bytes, but not replace them', async () => {
    // Regression: the delete check ran before the bytes were known, so an idempotent retry of an
    // upload by a user with only a write grant failed with 403.
    await addUser(t.node.store, 'deployer', 'deployer-password', { files: ['write'] })
    const deployer = basic('deployer', 'deployer-password')
    expect((await call(t.node.app, 'PUT', '/generic/files/retry.txt', { auth: deployer, body: 'same' })).statusCode).toBe(201)
    expect((await call(t.node.app, 'PUT', '/generic/files/retry.txt', { auth: deployer, body: 'same' })).statusCode).toBe(200)
    const replace = await call(t.node.app, 'PUT', '/generic/files/retry.txt', { auth: deployer, body: 'different' })
    expect(replace.statusCode).toBe(403)
    expect((await req('GET', '/generic/files/retry.txt')).payload).toBe('same')
  })
})

describe('generic format: directories', () => {
  beforeAll(async () => {
    for (const p of ['tree/a.txt', 'tree/b.txt', 'tree/sub/c.txt', 'tree/sub/deeper/d.txt', 'tree/%F0%9F%98%80/e.txt', 'tree-sibling.txt']) {
      expect((await req('PUT', `/generic/files/${p}`, { body: p })).statusCode).toBe(201)
    }
  })

  it('lists a directory as JSON, with and without the trailing slash', async () => {
    for (const url of ['/generic/files/tree/', '/generic/files/tree']) {
      const r = await req('GET', url)
      expect(r.statusCode).toBe(200)
      expect(r.headers['content-type']).toMatch(/application\/json/)
      const listing = r.json<{ repo: string; path: string; children: { name: string; type: string; size?: number; sha256?: string }[] }>()
      expect(listing.repo).toBe('files')
      expect(listing.path).toBe('/tree/')
      const byName = Object.fromEntries(listing.children.map((c) => [c.name, c]))
      expect(Object.keys(byName).sort()).toEqual(['a.txt', 'b.txt', 'sub', '😀'].sort())
      expect(byName['sub']).toEqual({ name: 'sub', type: 'dir' })
      expect(byName['😀']).toEqual({ name: '😀', type: 'dir' })
      expect(byName['a.txt']).toMatchObject({ type: 'file', size: 'tree/a.txt'.length, sha256: hex('sha256', 'tree/a.txt') })
    }
  })

  it('lists the repository root', async () => {
    const r = await req('GET', '/generic/files')
    expect(r.statusCode).toBe(200)
    const names = r.json<{ children: { name: string }[] }>().children.map((c) => c.name)
    expect(names).toContain('tree')
    expect(names).toContain('tree-sibling.txt')
  })

  it('DELETE of a directory removes everything below it and reports how many', async () => {
    const r = await req('DELETE', '/generic/files/tree/sub')
    expect(r.statusCode).toBe(200)
    expect(r.json()).toEqual({ deleted: 2 })
    expect((await req('GET', '/generic/files/tree/sub/c.txt')).statusCode).toBe(404)
    expect((await req('GET', '/generic/files/tree/a.txt')).statusCode).toBe(200)
    const all = await req('DELETE', '/generic/files/tree/')
    expect(all.json()).toEqual({ deleted: 3 })
    expect((await req('GET', '/generic/files/tree/')).statusCode).toBe(404)
    expect((await req('GET', '/generic/files/tree-sibling.txt')).statusCode).toBe(200)
  })
})
