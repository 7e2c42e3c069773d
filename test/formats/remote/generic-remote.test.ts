import { createServer, type Server } from 'node:http'
import { Readable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../../helpers/test-node.ts'
import { startCountingProxy, type CountingProxy } from './support.ts'

/**
 * The remote engine through the generic format, with two in-process nodes on real sockets: an
 * upstream with a local repository, and an edge whose remote repository points at the upstream
 * through a counting proxy.
 */
describe('generic remote repository', () => {
  let upstream: TestNode
  let edge: TestNode
  let proxy: CountingProxy

  const call = (node: TestNode, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${node.url}${path}`, {
      method,
      headers: {
        authorization: ADMIN_BASIC,
        ...(body !== undefined && !(body instanceof Uint8Array) ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : body instanceof Uint8Array ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    })

  beforeAll(async () => {
    upstream = await startTestNode({ listen: true })
    edge = await startTestNode({ listen: true })
    proxy = await startCountingProxy(upstream.url)
    expect((await call(upstream, 'POST', '/api/v1/repositories', { key: 'files', format: 'generic' })).status).toBe(201)
    const remote = {
      key: 'files-remote',
      public: true,
      format: 'generic',
      type: 'remote',
      upstream: { url: `${proxy.url}/generic/files/`, username: 'admin', password: 'admin-test-password' },
      settings: { mutablePaths: ['**/latest.json'], metadataTtlMs: 0, negativeTtlMs: 60_000 },
    }
    expect((await call(edge, 'POST', '/api/v1/repositories', remote)).status).toBe(201)
  })

  afterAll(async () => {
    await proxy?.close()
    await edge?.close()
    await upstream?.close()
  })

  it('never returns the upstream password, and keeps it when the masked value is put back', async () => {
    const got = (await (await call(edge, 'GET', '/api/v1/repositories/files-remote')).json()) as Record<string, unknown>
    expect(JSON.stringify(got)).not.toContain('admin-test-password')
    expect((got.upstream as Record<string, unknown>).password).toBe('********')
    const put = await call(edge, 'PUT', '/api/v1/repositories/files-remote', { settings: got.settings, upstream: got.upstream })
    expect(put.status).toBe(200)
    const row = edge.node.store.repositories.get('files-remote')
    expect((row?.settings.upstream as Record<string, unknown>).password).toBe('admin-test-password')
  })

  it('refuses a remote repository without an upstream, and uploads to a remote', async () => {
    const res = await call(edge, 'POST', '/api/v1/repositories', { key: 'no-upstream', format: 'generic', type: 'remote' })
    expect(res.status).toBe(400)
    const put = await call(edge, 'PUT', '/generic/files-remote/x.bin', new Uint8Array([1, 2, 3]))
    expect(put.status).toBe(400)
  })

  it('fetches a miss from the upstream (with its credentials), stores it, and serves later reads from the store', async () => {
    const body = new Uint8Array(Buffer.from('hello through the edge\n'))
    expect((await call(upstream, 'PUT', '/generic/files/dir/a.txt', body)).status).toBe(201)
    const first = await fetch(`${edge.url}/generic/files-remote/dir/a.txt`)
    expect(first.status).toBe(200)
    expect(first.headers.get('x-ak-cache')).toBe('MISS')
    expect(await first.text()).toBe('hello through the edge\n')
    expect(proxy.seen.find((s) => s.url.endsWith('/dir/a.txt'))?.headers.authorization).toBe(ADMIN_BASIC)
    const second = await fetch(`${edge.url}/generic/files-remote/dir/a.txt`)
    expect(second.headers.get('x-ak-cache')).toBe('HIT')
    expect(await second.text()).toBe('hello through the edge\n')
    expect(proxy.count('/dir/a.txt')).toBe(1)
    const stored = edge.node.store.artifacts.get('files-remote', 'dir/a.txt')
    expect(stored?.properties.upstreamUrl).toBe(`${proxy.url}/generic/files/dir/a.txt`)
  })

  it('makes one upstream request for 50 concurrent misses of the same file', async () => {
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff)
    expect((await call(upstream, 'PUT', '/generic/files/big.bin', big)).status).toBe(201)
    const answers = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await fetch(`${edge.url}/generic/files-remote/big.bin`)
        return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) }
      }),
    )
    for (const a of answers) {
      expect(a.status).toBe(200)
      expect(a.bytes.equals(Buffer.from(big))).toBe(true)
    }
    expect(proxy.count('/big.bin'), JSON.stringify(proxy.seen.filter((s) => s.url.endsWith('big.bin')).map((s) => [s.method, s.status, s.headers.range]))).toBe(1)
  })

  it('goes to the upstream when the row is there but no one has the bytes (mesh first, then upstream)', async () => {
    expect((await call(upstream, 'PUT', '/generic/files/gone.txt', new Uint8Array(Buffer.from('bytes elsewhere')))).status).toBe(201)
    await (await fetch(`${edge.url}/generic/files-remote/gone.txt`)).arrayBuffer()
    const row = edge.node.store.artifacts.get('files-remote', 'gone.txt')
    expect(row).toBeDefined()
    // As after replication from a peer whose copy is unreachable: metadata here, bytes nowhere.
    await edge.node.store.blobs.delete(row?.sha256 as string)
    const res = await fetch(`${edge.url}/generic/files-remote/gone.txt`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ak-cache')).toBe('MISS')
    expect(await res.text()).toBe('bytes elsewhere')
    expect(proxy.count('/gone.txt')).toBe(2)
    expect((await fetch(`${edge.url}/generic/files-remote/gone.txt`)).headers.get('x-ak-cache')).toBe('HIT')
  })

  it('serves metadata another node fetched while it is fresh by that fetchedAt, without asking the upstream', async () => {
    const { store } = edge.node
    const blob = await store.blobs.ingest(Readable.from([Buffer.from('{"from":"a peer"}')]))
    // What replication of a peer's fetch leaves here: the artifact row with the peer's properties.
    store.artifacts.put({
      repo: 'files-remote',
      path: 'peer/latest.json',
      blob,
      contentType: 'application/json',
      properties: { fetchedAt: Date.now(), upstreamUrl: `${proxy.url}/generic/files/peer/latest.json` },
      overwrite: true,
    })
    const repo = store.repositories.get('files-remote')
    store.repositories.update('files-remote', { settings: { ...repo?.settings, metadataTtlMs: 60_000 } })
    try {
      const res = await fetch(`${edge.url}/generic/files-remote/peer/latest.json`)
      expect(res.headers.get('x-ak-cache')).toBe('HIT')
      expect(await res.text()).toBe('{"from":"a peer"}')
      expect(proxy.count('/peer/latest.json')).toBe(0)
    } finally {
      store.repositories.update('files-remote', { settings: { ...repo?.settings, metadataTtlMs: 0 } })
    }
  })

  it('remembers an upstream 404 for the negative TTL', async () => {
    expect((await fetch(`${edge.url}/generic/files-remote/nope.txt`)).status).toBe(404)
    expect((await fetch(`${edge.url}/generic/files-remote/nope.txt`)).status).toBe(404)
    expect(proxy.count('/nope.txt')).toBe(1)
  })

  it('revalidates a mutable path with If-None-Match and serves it stale with a warning when the upstream is down', async () => {
    expect((await call(upstream, 'PUT', '/generic/files/app/latest.json', new Uint8Array(Buffer.from('{"v":1}')))).status).toBe(201)
    const first = await fetch(`${edge.url}/generic/files-remote/app/latest.json`)
    expect(first.headers.get('x-ak-cache')).toBe('MISS')
    expect(await first.text()).toBe('{"v":1}')
    const again = await fetch(`${edge.url}/generic/files-remote/app/latest.json`)
    expect(again.headers.get('x-ak-cache')).toBe('REVALIDATED')
    const conditional = proxy.seen.filter((s) => s.url.endsWith('/app/latest.json'))[1]
    expect(conditional?.headers['if-none-match']).toMatch(/^"[a-f0-9]{64}"$/)
    expect(conditional?.status).toBe(304)
    expect((await call(upstream, 'PUT', '/generic/files/app/latest.json', new Uint8Array(Buffer.from('{"v":2}')))).status).toBe(200)
    const changed = await fetch(`${edge.url}/generic/files-remote/app/latest.json`)
    expect(changed.headers.get('x-ak-cache')).toBe('MISS')
    expect(await changed.text()).toBe('{"v":2}')
    proxy.setDown(true)
    try {
      const stale = await fetch(`${edge.url}/generic/files-remote/app/latest.json`)
      expect(stale.status).toBe(200)
      expect(stale.headers.get('x-ak-cache')).toBe('STALE')
      expect(stale.headers.get('warning')).toBe('110 - "Response is Stale"')
      expect(await stale.text()).toBe('{"v":2}')
      const cached = await fetch(`${edge.url}/generic/files-remote/dir/a.txt`)
      expect(cached.status).toBe(200)
      const missing = await fetch(`${edge.url}/generic/files-remote/never-fetched.bin`)
      expect(missing.status).toBe(502)
      expect(((await missing.json()) as { error: string }).error).toBe('AK_UPSTREAM_UNAVAILABLE')
    } finally {
      proxy.setDown(false)
    }
  })
})

/** An upstream that misbehaves on purpose: wrong Content-Length, oversize bodies. */
describe('generic remote repository with a bad upstream', () => {
  let edge: TestNode
  let bad: Server

  beforeAll(async () => {
    bad = createServer((req, res) => {
      if (req.url === '/short.bin') {
        // Announces 1000 bytes, sends 10 and closes: a truncated download.
        res.writeHead(200, { 'content-length': '1000' })
        res.write(Buffer.alloc(10, 1))
        setTimeout(() => res.destroy(), 50)
        return
      }
      if (req.url === '/huge.bin') {
        res.writeHead(200, { 'content-length': String(64 * 1024) })
        res.end(Buffer.alloc(64 * 1024, 2))
        return
      }
      res.writeHead(404).end()
    })
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r))
    edge = await startTestNode({ listen: true })
    const port = (bad.address() as AddressInfo).port
    const res = await fetch(`${edge.url}/api/v1/repositories`, {
      method: 'POST',
      headers: { authorization: ADMIN_BASIC, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'bad', format: 'generic', type: 'remote', public: true, upstream: { url: `http://127.0.0.1:${port}` }, settings: { maxUploadBytes: 32 * 1024 } }),
    })
    expect(res.status).toBe(201)
  })

  afterAll(async () => {
    await edge?.close()
    bad?.closeAllConnections()
    await new Promise<void>((r) => bad?.close(() => r()))
  })

  it('never lets a truncated upstream body pass for a complete file, and stores nothing', async () => {
    const res = await fetch(`${edge.url}/generic/bad/short.bin`)
    if (res.status === 200) {
      // Headers were already on their way: the body must be cut short.
      await expect(res.arrayBuffer()).rejects.toThrow()
    } else {
      expect(res.status).toBe(502)
      expect(((await res.json()) as { error: string }).error).toBe('AK_UPSTREAM_INVALID')
    }
    expect(edge.node.store.artifacts.get('bad', 'short.bin')).toBeUndefined()
  })

  it('refuses an upstream file larger than the repository allows, storing nothing', async () => {
    const res = await fetch(`${edge.url}/generic/bad/huge.bin`)
    expect(res.status).toBe(502)
    expect(((await res.json()) as { error: string }).error).toBe('AK_UPSTREAM_INVALID')
    expect(edge.node.store.artifacts.get('bad', 'huge.bin')).toBeUndefined()
  })
})
