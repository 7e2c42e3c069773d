// The Docker token flow of remote OCI repositories (formats/oci/remote-auth.ts) against a small
// registry on loopback: challenge parsing, one token per scope while it lives, a new one after
// it expires or after the upstream refused it, and registries that want Basic or nothing.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseChallenge, upstreamName, UpstreamAuth } from '../../../formats/oci/index.ts'
import type { Repository } from '../../../store/index.ts'

interface Seen {
  path: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
}

describe('OCI upstream token auth', () => {
  let server: Server
  let base: string
  const seen: Seen[] = []
  /** What /v2/ answers with, per test. */
  let probe: { status: number; challenge?: string } = { status: 401 }
  let lifetimeSeconds = 300
  let issued = 0
  const dispatcher = new Agent()

  const repo = (key: string, url: string, credentials = true): Repository =>
    ({
      key,
      format: 'oci',
      type: 'remote',
      description: '',
      public: false,
      settings: { upstream: { url, ...(credentials ? { username: 'puller', password: 's3cret' } : {}) } },
      createdAt: 0,
      updatedAt: 0,
    }) as Repository

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      seen.push({ path: url.pathname, query: url.searchParams, headers: req.headers })
      if (url.pathname === '/v2/') {
        if (probe.challenge) res.setHeader('www-authenticate', probe.challenge)
        res.writeHead(probe.status, { 'content-type': 'application/json' }).end('{}')
        return
      }
      if (url.pathname === '/auth/token') {
        issued++
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `tok-${issued}-${url.searchParams.get('scope')}`, expires_in: lifetimeSeconds }))
        return
      }
      res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    await dispatcher.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('parses Bearer and Basic challenges, quoted commas and escapes included', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.example/token',
      service: 'registry.example',
    })
    expect(parseChallenge('bearer realm="http://h/t\\"x"')).toEqual({ scheme: 'bearer', realm: 'http://h/t"x', service: undefined })
    expect(parseChallenge('Basic realm="Registry"')).toEqual({ scheme: 'basic' })
    // A realm that is not an http(s) URL is no use.
    expect(parseChallenge('Bearer realm="file:///etc/passwd"')).toBeUndefined()
    expect(parseChallenge(undefined)).toBeUndefined()
  })

  it('maps image names under the upstream URL path, ignoring a leading /v2', () => {
    expect(upstreamName('http://node:8080', 'team/app')).toBe('team/app')
    expect(upstreamName('http://node:8080/images', 'team/app')).toBe('images/team/app')
    expect(upstreamName('http://node:8080/v2/images/', 'app')).toBe('images/app')
    expect(upstreamName('https://registry-1.docker.io/library', 'alpine')).toBe('library/alpine')
  })

  it('fetches one token per scope with the Basic credentials and reuses it until it expires', async () => {
    probe = { status: 401, challenge: `Bearer realm="${base}/auth/token",service="test-registry"` }
    lifetimeSeconds = 1
    const auth = new UpstreamAuth({ dispatcher, timeoutMs: 5000 })
    const r = repo('cache', `${base}/ns`)
    seen.length = 0
    const first = await Promise.all(Array.from({ length: 5 }, () => auth.headers(r, 'ns/app')))
    expect(new Set(first.map((h) => h.authorization))).toEqual(new Set([`Bearer tok-${issued}-repository:ns/app:pull`]))
    const tokenRequests = () => seen.filter((s) => s.path === '/auth/token')
    expect(tokenRequests().length).toBe(1)
    expect(seen.filter((s) => s.path === '/v2/').length).toBe(1)
    expect(tokenRequests()[0]?.query.get('service')).toBe('test-registry')
    expect(tokenRequests()[0]?.headers.authorization).toBe(`Basic ${Buffer.from('puller:s3cret').toString('base64')}`)

    // Another image is another scope: another token, the challenge is remembered.
    await auth.headers(r, 'ns/other')
    expect(tokenRequests().length).toBe(2)
    expect(seen.filter((s) => s.path === '/v2/').length).toBe(1)

    // A 1 s token is dropped a little before its end: the next call fetches a fresh one.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const later = await auth.headers(r, 'ns/app')
    expect(tokenRequests().length).toBe(3)
    expect(later.authorization).not.toBe(first[0]?.authorization)

    // After the upstream refused a token, forget() makes the next call probe and fetch again.
    lifetimeSeconds = 300
    await auth.headers(r, 'ns/app')
    const before = tokenRequests().length
    auth.forget(r, 'ns/app')
    await auth.headers(r, 'ns/app')
    expect(tokenRequests().length).toBe(before + 1)
    expect(seen.filter((s) => s.path === '/v2/').length).toBe(2)
  })

  it('adds nothing for registries that answer /v2/ with 200 or ask for Basic (the engine sends Basic itself)', async () => {
    const auth = new UpstreamAuth({ dispatcher, timeoutMs: 5000 })
    probe = { status: 200 }
    expect(await auth.headers(repo('open', base, false), 'app')).toEqual({})
    probe = { status: 401, challenge: 'Basic realm="r"' }
    expect(await auth.headers(repo('basic', base), 'app')).toEqual({})
  })

  it('a refused token request is an upstream error naming the credentials', async () => {
    probe = { status: 401, challenge: `Bearer realm="${base}/no-such-realm"` }
    const auth = new UpstreamAuth({ dispatcher, timeoutMs: 5000 })
    await expect(auth.headers(repo('refused', base), 'app')).rejects.toMatchObject({ code: 'AK_UPSTREAM_UNAVAILABLE', details: { upstreamStatus: 404 } })
  })
})
