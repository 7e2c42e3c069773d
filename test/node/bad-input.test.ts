import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../helpers/test-node.ts'
import { addRepo, call } from './fixtures.ts'
import { head, rawExchange, type RawExchange } from './raw-http.ts'

const MAX_UPLOAD = 64 * 1024
const IDLE_MS = 300

let t: TestNode
const tempFiles = () => {
  try {
    return readdirSync(join(t.dataDir, 'tmp'))
  } catch {
    return []
  }
}
const artifactCount = () => t.node.store.artifacts.count()
async function blobCount(): Promise<number> {
  let n = 0
  for await (const _ of t.node.store.blobs.list()) n++
  return n
}
async function uploadErrors(reason: string): Promise<number> {
  const m = await t.node.metrics.uploadErrors.get()
  return m.values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0)
}
async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The one JSON error response of an exchange, checked for the {error, message} shape. */
function jsonError(x: RawExchange, status: number): { error: string; message: string } {
  const r = x.responses.find((res) => res.status >= 400)
  expect(r, `no error response in:\n${x.text}`).toBeDefined()
  expect(r?.status).toBe(status)
  expect(r?.headers['content-type']).toMatch(/^application\/json/)
  const body = JSON.parse(r?.body ?? '') as { error: string; message: string }
  expect(typeof body.error).toBe('string')
  expect(body.error).toMatch(/^AK_/)
  expect(typeof body.message).toBe('string')
  return body
}

async function stillServing(): Promise<void> {
  const r = await fetch(`${t.url}/health`)
  expect(r.status).toBe(200)
  const get = await fetch(`${t.url}/generic/files/ok.txt`, { headers: { authorization: ADMIN_BASIC } })
  expect(await get.text()).toBe('fine')
}

beforeAll(async () => {
  t = await startTestNode({
    listen: true,
    env: { AK_MAX_UPLOAD_BYTES: String(MAX_UPLOAD) },
    flags: { 'http.bodyIdleTimeoutMs': IDLE_MS },
  })
  addRepo(t.node.store, 'files')
  expect((await call(t.node.app, 'PUT', '/generic/files/ok.txt', { auth: ADMIN_BASIC, body: 'fine' })).statusCode).toBe(201)
})
afterAll(() => t?.close())

describe('bad input over real sockets', () => {
  const traversals = [
    '/generic/files/../../../etc/passwd',
    '/generic/files/a/../../b',
    '/generic/files/%2e%2e/%2e%2e/etc/passwd',
    '/generic/files/%2E%2e/x',
    '/generic/files/a/%2e/b',
    '/generic/files/a%5c..%5c..%5cb',
    '/generic/files/..\\..\\b',
    '/generic/files/a%00.txt',
    '/generic/files/a%0d%0aSet-Cookie:x',
    '/generic/files//etc/passwd',
    '/generic/files/..%2f..%2fetc%2fpasswd',
    '/generic/files/a%2Fb',
    '/generic/%2e%2e/files/x',
    '/generic/../generic/files/x',
    `/generic/files/${'a/'.repeat(600)}x`,
  ]

  it.each(traversals)('refuses the path %s (GET and PUT) with 4xx JSON and stores nothing', async (target) => {
    const artifacts = artifactCount()
    const blobs = await blobCount()
    const get = await rawExchange(t.url, head('GET', target, { authorization: ADMIN_BASIC, connection: 'close' }))
    const getStatus = get.responses[0]?.status ?? 0
    expect(getStatus, get.text).toBeGreaterThanOrEqual(400)
    expect(getStatus).toBeLessThan(500)
    jsonError(get, getStatus)
    const body = 'sneaky'
    const put = await rawExchange(
      t.url,
      head('PUT', target, { authorization: ADMIN_BASIC, 'content-length': body.length, connection: 'close' }) + body,
    )
    const putStatus = put.responses[0]?.status ?? 0
    expect(putStatus, put.text).toBeGreaterThanOrEqual(400)
    expect(putStatus).toBeLessThan(500)
    jsonError(put, putStatus)
    expect(artifactCount()).toBe(artifacts)
    expect(await blobCount()).toBe(blobs)
  })

  it('refuses a body over AK_MAX_UPLOAD_BYTES announced by Content-Length with 413, before reading it', async () => {
    const x = await rawExchange(t.url, head('PUT', '/generic/files/too-big.bin', { authorization: ADMIN_BASIC, 'content-length': MAX_UPLOAD + 1 }), {
      // Send only a little of the body: the answer must not wait for the rest.
      drive: (s) => void s.write(randomBytes(1000)),
    })
    expect(jsonError(x, 413).error).toBe('AK_BODY_TOO_LARGE')
    expect(x.closedByServer).toBe(true)
    expect(t.node.store.artifacts.get('files', 'too-big.bin')).toBeUndefined()
    await stillServing()
  })

  it('refuses a chunked body without Content-Length once it passes AK_MAX_UPLOAD_BYTES, with 413 and no leftovers', async () => {
    const blobs = await blobCount()
    const x = await rawExchange(t.url, head('PUT', '/generic/files/too-big-chunked.bin', { authorization: ADMIN_BASIC, 'transfer-encoding': 'chunked' }), {
      drive: async (s) => {
        // Just past the limit, then wait for the answer without the terminating chunk. (Bytes
        // still arriving after the node has refused and closed make its kernel reset the
        // connection, which can discard the 413 before it is read: see the report.)
        for (let sent = 0; sent <= MAX_UPLOAD && !s.destroyed; sent += 8 * 1024) {
          const chunk = randomBytes(8 * 1024)
          s.write(`${chunk.length.toString(16)}\r\n`)
          s.write(chunk)
          s.write('\r\n')
          await new Promise((r) => setTimeout(r, 5))
        }
      },
    })
    expect(jsonError(x, 413).error).toBe('AK_BODY_TOO_LARGE')
    expect(t.node.store.artifacts.get('files', 'too-big-chunked.bin')).toBeUndefined()
    await waitFor(() => tempFiles().length === 0, 'temp files to go')
    expect(await blobCount()).toBe(blobs)
    await stillServing()
  })

  it('answers malformed JSON to the API with 400 AK_MALFORMED_JSON', async () => {
    const r = await call(t.node.app, 'POST', '/api/v1/repositories', {
      auth: ADMIN_BASIC,
      body: '{"key": "broken", "format":',
      headers: { 'content-type': 'application/json' },
    })
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({ error: 'AK_MALFORMED_JSON', message: expect.any(String) })
    expect(t.node.store.repositories.get('broken')).toBeUndefined()
    const raw = await rawExchange(
      t.url,
      head('POST', '/api/v1/repositories', { authorization: ADMIN_BASIC, 'content-type': 'application/json', 'content-length': 9, connection: 'close' }) + '{not json',
    )
    expect(jsonError(raw, 400).error).toBe('AK_MALFORMED_JSON')
  })

  it('abandons a body that stops short of its Content-Length after the idle timeout (408), storing nothing', async () => {
    const started = Date.now()
    const x = await rawExchange(t.url, head('PUT', '/generic/files/stalled.bin', { authorization: ADMIN_BASIC, 'content-length': 1000 }), {
      drive: (s) => void s.write(randomBytes(10)),
    })
    expect(jsonError(x, 408).error).toBe('AK_BODY_TIMEOUT')
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 50)
    expect(Date.now() - started).toBeLessThan(IDLE_MS + 5_000)
    expect(x.closedByServer).toBe(true)
    expect(t.node.store.artifacts.get('files', 'stalled.bin')).toBeUndefined()
    await waitFor(() => tempFiles().length === 0, 'temp files to go')
    await stillServing()
  })

  it('answers bytes beyond the announced Content-Length with 400 JSON, closes the connection and stores nothing', async () => {
    // Regression: the 5 announced bytes formed a complete request that was committed as the
    // artifact after the node had already answered the trailing bytes with 400 and hung up.
    const aborted = await uploadErrors('AK_CLIENT_ABORTED')
    const x = await rawExchange(
      t.url,
      head('PUT', '/generic/files/short-cl.txt', { authorization: ADMIN_BASIC, 'content-length': 5 }) + 'hello, and then some garbage that is no request\r\n\r\n',
    )
    expect(x.closedByServer).toBe(true)
    const err = jsonError(x, 400)
    expect(err.error).toBe('AK_BAD_REQUEST')
    // The 5 announced bytes are a truncated prefix of what the client sent: never committed.
    // (Depending on timing the handler refuses it, or never runs because the socket is gone.)
    await waitFor(async () => (await uploadErrors('AK_CLIENT_ABORTED')) > aborted, 'the upload to be refused', 2_000).catch(() => {})
    await waitFor(() => tempFiles().length === 0, 'temp files to go')
    expect(t.node.store.artifacts.get('files', 'short-cl.txt')).toBeUndefined()
    await stillServing()
  })

  it('forgets an upload whose client disconnects mid-body: no artifact, no temp file, and the next request works', async () => {
    const blobs = await blobCount()
    const abortedBefore = await uploadErrors('AK_CLIENT_ABORTED')
    await rawExchange(t.url, head('PUT', '/generic/files/abandoned.bin', { authorization: ADMIN_BASIC, 'content-length': 60_000 }), {
      timeoutMs: 5_000,
      drive: async (s) => {
        s.write(randomBytes(20_000))
        // Wait until the node is writing the temp file, then vanish.
        await waitFor(() => tempFiles().length > 0, 'the upload to start')
        s.destroy()
      },
    })
    // Counted as the client's doing, not as a raw socket error (or a 500).
    await waitFor(async () => (await uploadErrors('AK_CLIENT_ABORTED')) > abortedBefore, 'the upload to count as aborted')
    await waitFor(() => tempFiles().length === 0, 'temp files to go')
    expect(t.node.store.artifacts.get('files', 'abandoned.bin')).toBeUndefined()
    expect(await blobCount()).toBe(blobs)
    await stillServing()
  })
})
