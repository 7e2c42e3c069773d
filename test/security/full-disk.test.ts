// Regression: on a full disk an upload answered 400 AK_CLIENT_ABORTED or 500, /ready stayed 200,
// and nothing refused new uploads before the disk was full.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../helpers/test-node.ts'
import { head, parseResponses, rawExchange, type RawResponse } from '../node/raw-http.ts'
import { toOciError } from '../../formats/oci/index.ts'
import { toWireError } from '../../node/http-errors.ts'

const MiB = 1024 * 1024
const TMPFS_BYTES = 64 * MiB
/** Kept free by the node under test: uploads are refused and /ready is 503 below it. */
const MIN_FREE = 16 * MiB

/** Mounts a small tmpfs for the data dir; undefined when this machine does not let us. */
function mountTmpfs(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'ak-full-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES}`, 'tmpfs', dir], { stdio: 'pipe' })
    return dir
  } catch (err) {
    rmdirSync(dir)
    const why = `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`
    if (process.env.AK_REQUIRE_CLIENTS === '1') throw new Error(`full-disk tests need a tmpfs mount: ${why}`)
    console.warn(`\n*** SKIPPING the full-disk tests: ${why}. Run as root (or set AK_REQUIRE_CLIENTS=1 to fail instead). ***\n`)
    return undefined
  }
}

const mountDir = mountTmpfs()

function freeBytes(dir: string): number {
  const s = statfsSync(dir)
  return s.bavail * s.bsize
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * PUTs an endless chunked body as fast as the node takes it, until the node answers (or hangs up):
 * no Content-Length, so nothing can refuse it early and the disk really fills.
 */
function putUntilAnswered(url: string, target: string, auth: string): Promise<RawResponse | undefined> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) })
    const received: Buffer[] = []
    const chunk = Buffer.alloc(1 * MiB, 0x5a)
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(parseResponses(Buffer.concat(received).toString('utf8'))[0])
    }
    const timer = setTimeout(finish, 60_000)
    const pump = () => {
      while (!done && received.length === 0 && socket.writable) {
        if (!socket.write(frame)) return void socket.once('drain', pump)
      }
    }
    socket.on('data', (d: Buffer) => {
      received.push(d)
      // Wait for the whole small JSON answer, then stop.
      const text = Buffer.concat(received).toString('utf8')
      const r = parseResponses(text)[0]
      if (r && Buffer.byteLength(r.body) >= Number(r.headers['content-length'] ?? 0)) finish()
    })
    socket.on('close', finish)
    socket.on('error', () => {})
    socket.on('connect', () => {
      socket.write(`PUT ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\nTransfer-Encoding: chunked\r\n\r\n`)
      pump()
    })
  })
}

describe.skipIf(!mountDir)('a full disk (the data dir on a 64 MiB tmpfs)', () => {
  const dir = mountDir as string
  let node: NodeProcess
  const filler = join(dir, 'filler.bin')

  const api = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${node.url}${path}`, { method, headers: { authorization: node.adminAuth, ...headers }, body })
  const tempFiles = () => {
    const tmp = join(dir, 'tmp')
    if (!existsSync(tmp)) return []
    return (readdirSync(tmp, { recursive: true }) as string[]).filter((f) => statSync(join(tmp, f)).isFile())
  }
  const metric = async (name: string): Promise<number | undefined> => {
    const text = await (await fetch(`${node.url}/metrics`)).text()
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
    return m ? Number(m[1]) : undefined
  }

  beforeAll(async () => {
    node = await startNodeProcess({ dataDir: dir, env: { AK_MIN_FREE_BYTES: String(MIN_FREE) } })
    const created = await api('POST', '/api/v1/repositories', JSON.stringify({ key: 'files', format: 'generic', type: 'local' }), {
      'content-type': 'application/json',
    })
    expect(created.status).toBe(201)
    expect((await api('POST', '/api/v1/repositories', JSON.stringify({ key: 'images', format: 'oci', type: 'local' }), { 'content-type': 'application/json' })).status).toBe(201)
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    execFileSync('umount', [dir])
    rmdirSync(dir)
  })

  it('answers an upload that fills the disk with 507 JSON, removes its temp file, and keeps serving', async () => {
    const res = await putUntilAnswered(node.url, '/generic/files/huge.bin', node.adminAuth)
    expect(res?.status).toBe(507)
    expect(res?.headers['content-type']).toMatch(/^application\/json/)
    expect(JSON.parse(res?.body ?? '{}')).toMatchObject({ error: 'AK_INSUFFICIENT_STORAGE' })
    await waitFor(() => tempFiles().length === 0, 'the temp file to go')
    expect(freeBytes(dir)).toBeGreaterThan(TMPFS_BYTES / 2)
    // Still serving: reads, small uploads, and ready again once the space is back.
    expect((await fetch(`${node.url}/health`)).status).toBe(200)
    expect((await api('PUT', '/generic/files/small.txt', 'still here')).status).toBe(201)
    expect(await (await api('GET', '/generic/files/small.txt')).text()).toBe('still here')
    expect((await api('GET', '/generic/files/huge.bin')).status).toBe(404)
    await waitFor(async () => (await fetch(`${node.url}/ready`)).status === 200, '/ready to be 200')
  }, 90_000)

  it('refuses an upload whose Content-Length does not fit before reading it (507)', async () => {
    const x = await rawExchange(node.url, head('PUT', '/generic/files/too-big.bin', { authorization: node.adminAuth, 'content-length': TMPFS_BYTES }))
    expect(x.closedByServer).toBe(true)
    expect(x.responses[0]?.status, x.text).toBe(507)
    expect(JSON.parse(x.responses[0]?.body ?? '{}')).toMatchObject({ error: 'AK_INSUFFICIENT_STORAGE' })
    expect(tempFiles()).toEqual([])
  })

  it('below AK_MIN_FREE_BYTES refuses uploads early (507) and is not ready (503 with the reason); recovers once space returns', async () => {
    expect(await metric('ak_storage_free_bytes')).toBeGreaterThan(MIN_FREE)
    // Leave half the minimum free.
    writeFileSync(filler, Buffer.alloc(freeBytes(dir) - MIN_FREE / 2))
    await waitFor(async () => (await fetch(`${node.url}/ready`)).status === 503, '/ready to be 503')
    const ready = await fetch(`${node.url}/ready`)
    const why = (await ready.json()) as { error: string; message: string }
    expect(why.error).toBe('AK_INSUFFICIENT_STORAGE')
    expect(why.message).toMatch(/free space .* below the minimum of 16777216/)
    expect(await metric('ak_storage_free_bytes')).toBeLessThan(MIN_FREE)
    expect(await metric('ak_storage_min_free_bytes')).toBe(MIN_FREE)

    const generic = await api('PUT', '/generic/files/refused.txt', 'tiny')
    expect(generic.status).toBe(507)
    expect(await generic.json()).toMatchObject({ error: 'AK_INSUFFICIENT_STORAGE' })
    const oci = await api('POST', '/v2/images/app/blobs/uploads/')
    expect(oci.status).toBe(507)
    expect(((await oci.json()) as { errors: { code: string }[] }).errors).toHaveLength(1)
    expect(tempFiles()).toEqual([])
    expect((await api('GET', '/generic/files/small.txt')).status).toBe(200) // reads still work

    rmSync(filler)
    await waitFor(async () => (await fetch(`${node.url}/ready`)).status === 200, '/ready to be 200 again')
    expect((await api('PUT', '/generic/files/after.txt', 'space is back')).status).toBe(201)
    expect((await api('POST', '/v2/images/app/blobs/uploads/')).status).toBe(202)
    expect(await metric('ak_storage_free_bytes')).toBeGreaterThan(MIN_FREE)
  }, 60_000)
})

describe('SQLite out of space (SQLITE_FULL)', () => {
  let t: TestNode
  beforeAll(async () => {
    t = await startTestNode({ env: { AK_MIN_FREE_BYTES: '0' } })
  })
  afterAll(() => t?.close())

  it('is 507 in every protocol, not 500', async () => {
    const created = await t.node.app.inject({
      method: 'POST',
      url: '/api/v1/repositories',
      headers: { authorization: ADMIN_BASIC, 'content-type': 'application/json' },
      payload: { key: 'files', format: 'generic', type: 'local' },
    })
    expect(created.statusCode).toBe(201)
    // SQLite's own ceiling on the database's pages fails writes with the same SQLITE_FULL as a full disk.
    t.node.store.db.pragma(`max_page_count = ${t.node.store.db.pragma('page_count', { simple: true }) as number}`)
    const post = (i: number) =>
      t.node.app.inject({
        method: 'POST',
        url: '/api/v1/repositories',
        headers: { authorization: ADMIN_BASIC, 'content-type': 'application/json' },
        payload: { key: `more-${i}`, format: 'generic', type: 'local', description: 'x'.repeat(1000) },
      })
    // The first few may still fit in pages that have room.
    let res = await post(0)
    for (let i = 1; res.statusCode === 201 && i < 500; i++) res = await post(i)
    expect(res.statusCode, res.body).toBe(507)
    expect(res.json()).toMatchObject({ error: 'AK_INSUFFICIENT_STORAGE' })

    const put = (i: number) => t.node.app.inject({ method: 'PUT', url: `/generic/files/f${i}.txt`, headers: { authorization: ADMIN_BASIC }, payload: `file ${i}` })
    let up = await put(0)
    for (let i = 1; up.statusCode === 201 && i < 500; i++) up = await put(i)
    expect(up.statusCode, up.body).toBe(507)

    const failure = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
    expect(toWireError(failure)).toMatchObject({ status: 507, body: { error: 'AK_INSUFFICIENT_STORAGE' } })
    expect(toOciError(failure).status).toBe(507)
  })
})
