// Pins: a repository admin could repoint a remote repository's upstream at any host (the stored
// password then went there), a PATCH without a password wiped it, credentials followed redirects,
// and upstream URLs could reach link-local and cloud metadata addresses (SSRF).
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defaultDispatcher, refusedAddress, refusedHost } from '../../formats/core/remote/index.ts'
import { realmMayReceiveCredentials } from '../../formats/oci/remote-auth.ts'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'

interface Seen {
  url: string
  headers: IncomingHttpHeaders
}

/** A tiny HTTP server on 127.0.0.1 that records what reached it: one "host" per port. */
async function host(handle: (url: string, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = []
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url ?? '/', headers: req.headers })
    handle(req.url ?? '/', res)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) }
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
const UPSTREAM_SECRET = 'upstream-pass-7f3a'
const REPO_ADMIN = { name: 'ra', password: 'repo-admin-password' }

describe('remote upstream repointing, credentials and address policy', () => {
  let node: NodeProcess
  let a: Awaited<ReturnType<typeof host>>
  let b: Awaited<ReturnType<typeof host>>

  const api = async (method: string, path: string, body?: unknown, auth = node.adminAuth) => {
    const res = await fetch(`${node.url}/api/v1${path}`, {
      method,
      headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    })
    const text = await res.text()
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> }
  }
  const asRepoAdmin = basic(REPO_ADMIN.name, REPO_ADMIN.password)
  /** The upstream as stored, from the node admin's GET (password masked). */
  const upstreamOf = async (key: string) => (await api('GET', `/repositories/${key}`)).body.upstream as Record<string, unknown>

  beforeAll(async () => {
    // Host B is "another host": it must never see the credentials meant for host A.
    b = await host((_url, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('from b\n'))
    a = await host((url, res) => {
      if (url.startsWith('/files/moved/')) res.writeHead(302, { location: `${b.url}/files/${url.slice('/files/moved/'.length)}` }).end()
      else if (url.startsWith('/files/to-metadata')) res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end()
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(`from a: ${url}\n`)
    })
    node = await startNodeProcess()
    expect((await api('POST', '/users', { name: REPO_ADMIN.name, password: REPO_ADMIN.password })).status).toBe(201)
  })

  afterAll(async () => {
    await node?.stop()
    await a?.close()
    await b?.close()
  })

  const createRemote = async (key: string, upstream: Record<string, unknown>) => {
    const res = await api('POST', '/repositories', { key, format: 'generic', type: 'remote', public: true, upstream })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    const grant = await api('PUT', '/permissions', { repo: key, principalType: 'user', principal: REPO_ADMIN.name, actions: ['admin'] })
    expect(grant.status, JSON.stringify(grant.body)).toBe(200)
  }

  it('refuses a repository admin changing the upstream scheme, host or port (403), and keeps the stored upstream', async () => {
    await createRemote('repoint', { url: `${a.url}/files/`, username: 'puller', password: UPSTREAM_SECRET })
    const otherPort = { upstream: { url: `${b.url}/files/`, password: '********' } }
    expect((await api('PATCH', '/repositories/repoint', otherPort, asRepoAdmin)).status).toBe(403)
    const otherHost = { upstream: { url: `${a.url.replace('127.0.0.1', 'localhost')}/files/` } }
    expect((await api('PATCH', '/repositories/repoint', otherHost, asRepoAdmin)).status).toBe(403)
    const otherScheme = { upstream: { url: `${a.url.replace('http:', 'https:')}/files/` } }
    expect((await api('PATCH', '/repositories/repoint', otherScheme, asRepoAdmin)).status).toBe(403)
    // Through settings.upstream too (the same field, another place in the body).
    const viaSettings = { settings: { upstream: { url: `${b.url}/files/` } } }
    expect((await api('PATCH', '/repositories/repoint', viaSettings, asRepoAdmin)).status).toBe(403)
    expect(await upstreamOf('repoint')).toEqual({ url: `${a.url}/files/`, username: 'puller', password: '********' })

    // The path is the repository admin's to change; the credentials stay.
    const path = await api('PATCH', '/repositories/repoint', { upstream: { url: `${a.url}/other/` } }, asRepoAdmin)
    expect(path.status, JSON.stringify(path.body)).toBe(200)
    expect(await upstreamOf('repoint')).toEqual({ url: `${a.url}/other/`, username: 'puller', password: '********' })
    const served = await fetch(`${node.url}/generic/repoint/x.txt`)
    expect(await served.text()).toBe('from a: /other/x.txt\n')
    expect(a.seen.find((s) => s.url === '/other/x.txt')?.headers.authorization).toBe(basic('puller', UPSTREAM_SECRET))
    expect(b.seen).toHaveLength(0)
  })

  it('drops the stored credentials when a node admin moves the upstream to another host, unless new ones come with it', async () => {
    await createRemote('moved', { url: `${a.url}/files/`, username: 'puller', password: UPSTREAM_SECRET })
    // The masked password put back with a new host is not a new password.
    const moved = await api('PATCH', '/repositories/moved', { upstream: { url: `${b.url}/files/`, password: '********' } })
    expect(moved.status, JSON.stringify(moved.body)).toBe(200)
    expect(await upstreamOf('moved')).toEqual({ url: `${b.url}/files/` })
    await (await fetch(`${node.url}/generic/moved/y.txt`)).text()
    expect(b.seen.find((s) => s.url === '/files/y.txt')?.headers.authorization).toBeUndefined()

    const back = await api('PATCH', '/repositories/moved', { upstream: { url: `${a.url}/files/`, username: 'puller2', password: 'new-secret-1' } })
    expect(back.status).toBe(200)
    expect(await upstreamOf('moved')).toEqual({ url: `${a.url}/files/`, username: 'puller2', password: '********' })
  })

  it('keeps credentials a PATCH omits, and removes them on an explicit null', async () => {
    await createRemote('creds', { url: `${a.url}/files/`, username: 'puller', password: UPSTREAM_SECRET })
    expect((await api('PATCH', '/repositories/creds', { upstream: { url: `${a.url}/files/` } }, asRepoAdmin)).status).toBe(200)
    expect(await upstreamOf('creds')).toEqual({ url: `${a.url}/files/`, username: 'puller', password: '********' })
    expect((await api('PATCH', '/repositories/creds', { settings: { metadataTtlMs: 1000 } }, asRepoAdmin)).status).toBe(200)
    expect(await upstreamOf('creds')).toEqual({ url: `${a.url}/files/`, username: 'puller', password: '********' })
    await (await fetch(`${node.url}/generic/creds/kept.txt`)).text()
    expect(a.seen.find((s) => s.url === '/files/kept.txt')?.headers.authorization).toBe(basic('puller', UPSTREAM_SECRET))

    expect((await api('PATCH', '/repositories/creds', { upstream: { url: `${a.url}/files/`, password: null } }, asRepoAdmin)).status).toBe(200)
    expect(await upstreamOf('creds')).toEqual({ url: `${a.url}/files/`, username: 'puller' })
    expect((await api('PATCH', '/repositories/creds', { upstream: { url: `${a.url}/files/`, username: null } }, asRepoAdmin)).status).toBe(200)
    expect(await upstreamOf('creds')).toEqual({ url: `${a.url}/files/` })
    await (await fetch(`${node.url}/generic/creds/gone.txt`)).text()
    expect(a.seen.find((s) => s.url === '/files/gone.txt')?.headers.authorization).toBeUndefined()
  })

  it('sends no Authorization header after a redirect to another host', async () => {
    await createRemote('redirects', { url: `${a.url}/files/`, username: 'puller', password: UPSTREAM_SECRET })
    const res = await fetch(`${node.url}/generic/redirects/moved/z.txt`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('from b\n')
    expect(a.seen.find((s) => s.url === '/files/moved/z.txt')?.headers.authorization).toBe(basic('puller', UPSTREAM_SECRET))
    const atB = b.seen.find((s) => s.url === '/files/z.txt')
    expect(atB).toBeDefined()
    expect(atB?.headers.authorization).toBeUndefined()
    expect(JSON.stringify(b.seen)).not.toContain(Buffer.from(`puller:${UPSTREAM_SECRET}`).toString('base64'))
  })

  it('refuses a redirect to a cloud metadata address at connect time', async () => {
    const res = await fetch(`${node.url}/generic/redirects/to-metadata`)
    expect(res.status).toBe(502)
    expect(((await res.json()) as { message: string }).message).toMatch(/169\.254\.169\.254.*(link-local|metadata)/)
  })

  it('refuses link-local and metadata upstreams (400), non-http schemes and credentials in the URL', async () => {
    for (const url of [
      'http://169.254.169.254/latest/',
      'http://169.254.170.2/v2/',
      'http://[fe80::1]/',
      'http://[fd00:ec2::254]/',
      'http://[::ffff:169.254.169.254]/',
      'http://2852039166/', // 169.254.169.254 as one decimal number
      'http://100.100.100.200/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://METADATA.google.internal./',
      'ftp://127.0.0.1/',
      'file:///etc/passwd',
      `http://user:pw@127.0.0.1:1/`,
    ]) {
      const res = await api('POST', '/repositories', { key: 'ssrf', format: 'generic', type: 'remote', upstream: { url } })
      expect(res.status, `${url}: ${JSON.stringify(res.body)}`).toBe(400)
    }
    // Nor may an existing repository be repointed there, even by a node admin.
    const repoint = await api('PATCH', '/repositories/repoint', { upstream: { url: 'http://169.254.169.254/' } })
    expect(repoint.status).toBe(400)
    expect(String(repoint.body.message)).toContain('AK_UPSTREAM_ALLOW_PRIVATE')
    // Loopback stays allowed (another node on the same machine).
    const loopback = await api('POST', '/repositories', { key: 'loopback', format: 'generic', type: 'remote', upstream: { url: 'http://127.0.0.1:1/' } })
    expect(loopback.status).toBe(201)
  })

  it('allows them with AK_UPSTREAM_ALLOW_PRIVATE=true', async () => {
    const open = await startNodeProcess({ env: { AK_UPSTREAM_ALLOW_PRIVATE: 'true' } })
    try {
      const res = await fetch(`${open.url}/api/v1/repositories`, {
        method: 'POST',
        headers: { authorization: open.adminAuth, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'imds', format: 'generic', type: 'remote', upstream: { url: 'http://169.254.169.254/latest/' } }),
      })
      expect(res.status).toBe(201)
    } finally {
      await open.stop()
    }
  })
})

describe('the upstream dispatcher at connect time', () => {
  let target: Awaited<ReturnType<typeof host>>
  beforeAll(async () => {
    target = await host((_url, res) => res.writeHead(200).end('ok'))
  })
  afterAll(async () => target?.close())

  it('refuses a name that resolves to a refused address on connect (DNS rebinding), though it resolved to loopback before', async () => {
    const port = new URL(target.url).port
    let answers = ['127.0.0.1']
    const dispatcher = defaultDispatcher({
      resolve: (hostname, _options, cb) =>
        hostname === 'rebind.test'
          ? cb(null, answers.map((address) => ({ address, family: 4 })))
          : cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []),
    })
    try {
      // reset: the connection closes after each request, so the next one connects (and resolves) again.
      const ok = await request(`http://rebind.test:${port}/first`, { dispatcher, reset: true })
      expect(ok.statusCode).toBe(200)
      expect(await ok.body.text()).toBe('ok')
      answers = ['169.254.169.254']
      await expect(request(`http://rebind.test:${port}/second`, { dispatcher, reset: true })).rejects.toThrow(/169\.254\.169\.254 is a link-local/)
      // An answer that mixes an allowed and a refused address is refused as a whole.
      answers = ['127.0.0.1', '169.254.169.254']
      await expect(request(`http://rebind.test:${port}/mixed`, { dispatcher, reset: true })).rejects.toThrow(/169\.254\.169\.254/)
      expect(target.seen.map((s) => s.url)).toEqual(['/first'])
    } finally {
      await dispatcher.close()
    }
  })

  it('classifies addresses and hosts', () => {
    for (const ip of ['169.254.169.254', '169.254.0.1', 'fe80::1', 'fd00:ec2::254', '::ffff:169.254.169.254', '100.100.100.200', '64:ff9b::a9fe:a9fe']) {
      expect(refusedAddress(ip), ip).toBeDefined()
    }
    for (const ip of ['127.0.0.1', '::1', '10.0.0.1', '192.168.1.1', '203.0.113.80', 'fd00::1']) expect(refusedAddress(ip), ip).toBeUndefined()
    expect(refusedHost('[fe80::1]')).toBeDefined()
    expect(refusedHost('metadata.google.internal.')).toBeDefined()
    expect(refusedHost('registry.npmjs.org')).toBeUndefined()
  })

  it('sends OCI upstream credentials to a token realm on the same domain only', () => {
    const hub = new URL('https://registry-1.docker.io/library')
    expect(realmMayReceiveCredentials(new URL('https://auth.docker.io/token'), hub)).toBe(true)
    expect(realmMayReceiveCredentials(new URL('https://registry-1.docker.io/token'), hub)).toBe(true)
    expect(realmMayReceiveCredentials(new URL('http://auth.docker.io/token'), hub)).toBe(false)
    expect(realmMayReceiveCredentials(new URL('https://evil.example/token'), hub)).toBe(false)
    expect(realmMayReceiveCredentials(new URL('https://docker.io.evil.example/token'), hub)).toBe(false)
    expect(realmMayReceiveCredentials(new URL('https://gitlab.com/jwt/auth'), new URL('https://registry.gitlab.com'))).toBe(true)
    expect(realmMayReceiveCredentials(new URL('http://127.0.0.1:9/token'), new URL('http://127.0.0.1:8/'))).toBe(true)
    expect(realmMayReceiveCredentials(new URL('http://127.0.0.2/token'), new URL('http://127.0.0.1/'))).toBe(false)
  })
})
