// Regression: a body trickled at a few bytes per second was never cut (only total silence was),
// and unfinished OCI upload sessions held their temp files with no cap on how many one user opens.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { head, rawExchange, type RawExchange } from '../node/raw-http.ts'

const WINDOW_S = 2
let node: NodeProcess
let capped: NodeProcess

async function api(n: NodeProcess, method: string, path: string, body?: unknown, auth = n.adminAuth): Promise<Response> {
  return fetch(`${n.url}${path}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Files (not directories) anywhere under the node's temp dir. */
function tempFiles(n: NodeProcess): string[] {
  const root = join(n.dataDir, 'tmp')
  if (!existsSync(root)) return []
  return (readdirSync(root, { recursive: true }) as string[]).filter((f) => statSync(join(root, f)).isFile())
}

/** Sends `head`, then `bytesPerTick` bytes (`fill`) every `tickMs` until the server hangs up (or the deadline). */
function trickle(
  url: string,
  requestHead: string,
  bytesPerTick: number,
  tickMs: number,
  onStarted?: () => void,
  fill = 0x61,
): Promise<RawExchange & { ms: number }> {
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  return rawExchange(url, requestHead, {
    timeoutMs: 20_000,
    drive: (socket: Socket) => {
      timer = setInterval(() => {
        if (socket.destroyed || !socket.writable) return clearInterval(timer)
        socket.write(Buffer.alloc(bytesPerTick, fill))
        onStarted?.()
      }, tickMs)
      socket.once('close', () => clearInterval(timer))
    },
  }).then((x) => {
    clearInterval(timer)
    return { ...x, ms: Date.now() - started }
  })
}

function expectCutAsTooSlow(x: RawExchange & { ms: number }, wire: 'json' | 'oci' | 'npm'): void {
  expect(x.closedByServer).toBe(true)
  // Cut once a whole window has shown the rate too low: after about WINDOW_S, well before 10 s.
  expect(x.ms).toBeGreaterThanOrEqual(WINDOW_S * 1000 - 100)
  expect(x.ms).toBeLessThan(10_000)
  const res = x.responses[0]
  expect(res, x.text).toBeDefined()
  expect(res?.status).toBe(408)
  expect(res?.headers['content-type']).toMatch(/^application\/json/)
  const body = JSON.parse(res?.body ?? '{}') as { error?: string; errors?: { code: string }[] }
  if (wire === 'json') expect(body.error).toBe('AK_UPLOAD_TOO_SLOW')
  else if (wire === 'npm') expect((body as { code?: string }).code).toBe('AK_UPLOAD_TOO_SLOW')
  else expect(body.errors?.[0]?.code).toBe('BLOB_UPLOAD_INVALID')
}

beforeAll(async () => {
  ;[node, capped] = await Promise.all([
    startNodeProcess({ env: { AK_MIN_UPLOAD_BYTES_PER_S: '1024', AK_SLOW_UPLOAD_WINDOW_S: String(WINDOW_S), AK_UPLOAD_SESSION_TTL_S: '1' } }),
    startNodeProcess({ env: { AK_MAX_UPLOAD_SESSIONS: '2' } }),
  ])
  const repos = [['files', 'generic'], ['images', 'oci'], ['js', 'npm'], ['mvn', 'maven'], ['py', 'pypi'], ['crates', 'cargo'], ['charts', 'helm'], ['gomod', 'go']]
  for (const [key, format] of repos) {
    expect((await api(node, 'POST', '/api/v1/repositories', { key, format, type: 'local' })).status).toBe(201)
  }
  expect((await api(capped, 'POST', '/api/v1/repositories', { key: 'images', format: 'oci', type: 'local' })).status).toBe(201)
}, 60_000)

afterAll(async () => {
  await Promise.all([node?.stop(), capped?.stop()])
})

describe('minimum upload rate (AK_MIN_UPLOAD_BYTES_PER_S over AK_SLOW_UPLOAD_WINDOW_S)', () => {
  it('cuts a generic PUT trickled at ~10 bytes/s with 408 JSON and removes its temp file', async () => {
    let sawTemp = false
    const x = await trickle(node.url, head('PUT', '/generic/files/slow.bin', { authorization: node.adminAuth, 'content-length': 100_000 }), 10, 1000, () => {
      sawTemp ||= tempFiles(node).length > 0
    })
    expectCutAsTooSlow(x, 'json')
    expect(sawTemp).toBe(true) // the upload had reached the store: there was a temp file to remove
    await waitFor(() => tempFiles(node).length === 0, 'the temp file to go')
    expect((await api(node, 'GET', '/generic/files/slow.bin')).status).toBe(404)
  })

  it('lets an upload above the minimum rate run longer than the window', async () => {
    const total = 4 * 2048 * 4 // ~4 s at 8 KiB/s
    let sent = 0
    const x = await rawExchange(node.url, head('PUT', '/generic/files/steady.bin', { authorization: node.adminAuth, 'content-length': total, connection: 'close' }), {
      timeoutMs: 20_000,
      drive: (socket) => {
        const timer = setInterval(() => {
          if (sent >= total || socket.destroyed) return clearInterval(timer)
          socket.write(Buffer.alloc(2048, 0x62))
          sent += 2048
        }, 250)
      },
    })
    expect(x.responses[0]?.status, x.text).toBe(201)
    expect((await api(node, 'GET', '/generic/files/steady.bin')).status).toBe(200)
  })

  it('cuts a trickled OCI chunk (PATCH) and cuts the session file back, keeping the session resumable', async () => {
    const start = await api(node, 'POST', '/v2/images/app/blobs/uploads/')
    expect(start.status).toBe(202)
    const location = start.headers.get('location') as string
    const uuid = location.split('/').pop() as string
    const x = await trickle(node.url, head('PATCH', location, { authorization: node.adminAuth, 'content-type': 'application/octet-stream', 'content-length': 50_000 }), 10, 1000)
    expectCutAsTooSlow(x, 'oci')
    expect(statSync(join(node.dataDir, 'tmp', 'oci-uploads', uuid)).size).toBe(0)
  })

  it('cuts a trickled JSON API body', async () => {
    const x = await trickle(
      node.url,
      head('POST', '/api/v1/repositories', { authorization: node.adminAuth, 'content-type': 'application/json', 'content-length': 50_000 }),
      10,
      1000,
    )
    expectCutAsTooSlow(x, 'json')
  })

  it('cuts a trickled npm publish body', async () => {
    // A valid start of a packument, then whitespace: the body stays parseable while it trickles.
    const requestHead = head('PUT', '/npm/js/slowpkg', { authorization: node.adminAuth, 'content-type': 'application/json', 'content-length': 50_000 })
    const x = await trickle(node.url, `${requestHead}{"name":"slowpkg"`, 10, 1000, undefined, 0x20)
    expectCutAsTooSlow(x, 'npm')
    await waitFor(() => tempFiles(node).filter((f) => !f.startsWith('oci-uploads')).length === 0, 'the temp file to go')
  })
})

describe('the minimum rate holds for every format, whatever reads the body', () => {
  const multipart = 'multipart/form-data; boundary=XX'
  const preamble = (name: string) => `--XX\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`
  const length = String.fromCharCode(100, 0, 0, 0) // u32 LE 100: the metadata's length
  const cases: [string, string, Record<string, string | number>, string][] = [
    ['maven (a POM, read whole)', 'PUT /maven/mvn/com/example/a/1.0/a-1.0.pom', {}, ''],
    ['maven (a jar, streamed)', 'PUT /maven/mvn/com/example/a/1.0/a-1.0.jar', {}, ''],
    ['pypi (the form fields before the file)', 'POST /pypi/py/', { 'content-type': multipart }, preamble(':action')],
    ['cargo (the metadata before the .crate)', 'PUT /cargo/crates/api/v1/crates/new', {}, length],
    ['helm (a multipart chart)', 'POST /helm/charts/api/charts', { 'content-type': multipart }, preamble('chart')],
    ['helm (a raw chart)', 'POST /helm/charts/api/charts', { 'content-type': 'application/octet-stream' }, ''],
    ['go (a module zip)', 'PUT /go/gomod/example.com/m/@v/v1.0.0.zip', {}, ''],
  ]
  it.each(cases)('cuts a trickled upload: %s', async (_what, line, headers, start) => {
    const [method, target] = line.split(' ') as [string, string]
    const requestHead = head(method, target, { authorization: node.adminAuth, 'content-length': 50_000, ...headers })
    const x = await trickle(node.url, `${requestHead}${start}`, 10, 1000)
    expect(x.closedByServer).toBe(true)
    expect(x.ms).toBeLessThan(10_000)
    expect(x.responses[0]?.status, x.text).toBe(408)
    await waitFor(() => tempFiles(node).filter((f) => !f.startsWith('oci-uploads')).length === 0, 'the temp files to go')
  })
})

describe('OCI upload sessions: idle TTL (AK_UPLOAD_SESSION_TTL_S) and a cap per user (AK_MAX_UPLOAD_SESSIONS)', () => {
  it('forgets a session idle past the TTL (404 BLOB_UPLOAD_UNKNOWN) and the sweeper deletes its temp file', async () => {
    const start = await api(node, 'POST', '/v2/images/app/blobs/uploads/')
    expect(start.status).toBe(202)
    const location = start.headers.get('location') as string
    const file = join(node.dataDir, 'tmp', 'oci-uploads', location.split('/').pop() as string)
    const chunk = await fetch(`${node.url}${location}`, {
      method: 'PATCH',
      headers: { authorization: node.adminAuth, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(100, 1),
    })
    expect(chunk.status).toBe(202)
    expect(statSync(file).size).toBe(100)
    await waitFor(async () => (await api(node, 'GET', location)).status === 404, 'the session to expire', 10_000)
    const gone = await api(node, 'GET', location)
    expect(gone.status).toBe(404)
    expect(((await gone.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('BLOB_UPLOAD_UNKNOWN')
    await waitFor(() => !existsSync(file), 'the sweeper to delete the temp file', 5_000)
    const late = await fetch(`${node.url}${location}`, {
      method: 'PATCH',
      headers: { authorization: node.adminAuth, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(10, 1),
    })
    expect(late.status).toBe(404)
    expect(((await late.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('BLOB_UPLOAD_UNKNOWN')
  })

  it('answers a third open session of one user with 429 TOOMANYREQUESTS; other users and a freed slot are not held up', async () => {
    const open = () => api(capped, 'POST', '/v2/images/app/blobs/uploads/')
    const first = await open()
    const second = await open()
    expect([first.status, second.status]).toEqual([202, 202])
    const third = await open()
    expect(third.status).toBe(429)
    expect(third.headers.get('content-type')).toMatch(/^application\/json/)
    expect(((await third.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('TOOMANYREQUESTS')
    expect(readdirSync(join(capped.dataDir, 'tmp', 'oci-uploads'))).toHaveLength(2)

    // The cap counts per user.
    expect((await api(capped, 'POST', '/api/v1/users', { name: 'carol', password: 'carol-secret-pw' })).status).toBe(201)
    expect((await api(capped, 'PUT', '/api/v1/permissions', { repo: 'images', principalType: 'user', principal: 'carol', actions: ['read', 'write'] })).status).toBe(200)
    const carol = `Basic ${Buffer.from('carol:carol-secret-pw').toString('base64')}`
    expect((await api(capped, 'POST', '/v2/images/app/blobs/uploads/', undefined, carol)).status).toBe(202)

    // Cancelling one frees its slot.
    expect((await api(capped, 'DELETE', first.headers.get('location') as string)).status).toBe(204)
    expect((await open()).status).toBe(202)
  })
})
