// Existence oracle: anonymous callers got 404 for a repository that does not exist and 401 for a private one, so anyone could list the private repositories' names by guessing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'

/** What a request's answer says, with the repository key replaced so answers about different keys compare. */
interface Answer {
  status: number
  challenge: string | null
  contentType: string | null
  body: string
}

/** One request shape; `{repo}` stands for the repository key. */
interface Probe {
  method: string
  path: string
  body?: string
  headers?: Record<string, string>
  /** A node-wide route under the repository's URL: any signed-in caller gets it, whatever the key. */
  nodeWide?: true
}

const FORMATS = ['generic', 'npm', 'pypi', 'maven', 'oci', 'cargo', 'go', 'helm'] as const
type Format = (typeof FORMATS)[number]

/** Requests a client of each format makes (reads, writes, odd methods), under every URL prefix. */
const PROBES: Record<Format, Probe[]> = {
  generic: [
    { method: 'GET', path: '/generic/{repo}/dir/file.txt' },
    { method: 'GET', path: '/generic/{repo}/' },
    { method: 'GET', path: '/generic/{repo}' },
    { method: 'HEAD', path: '/generic/{repo}/file.bin' },
    { method: 'PUT', path: '/generic/{repo}/file.txt', body: 'x' },
    { method: 'PUT', path: '/generic/{repo}/dir/', body: 'x' },
    { method: 'DELETE', path: '/generic/{repo}/file.txt' },
  ],
  npm: [
    { method: 'GET', path: '/npm/{repo}/left-pad' },
    { method: 'GET', path: '/npm/{repo}/@scope%2fpkg' },
    { method: 'GET', path: '/npm/{repo}/left-pad/-/left-pad-1.0.0.tgz' },
    { method: 'GET', path: '/npm/{repo}/-/ping', nodeWide: true },
    { method: 'HEAD', path: '/npm/{repo}/-/ping', nodeWide: true },
    { method: 'GET', path: '/npm/{repo}/-/v1/search?text=x' },
    { method: 'GET', path: '/npm/{repo}/-/package/left-pad/dist-tags' },
    { method: 'POST', path: '/npm/{repo}/left-pad/-/left-pad-1.0.0.tgz', body: 'x' },
    { method: 'PUT', path: '/npm/{repo}/left-pad', body: '{}', headers: { 'content-type': 'application/json' } },
    { method: 'DELETE', path: '/npm/{repo}/left-pad/-rev/1' },
  ],
  pypi: [
    { method: 'GET', path: '/pypi/{repo}/simple/' },
    { method: 'GET', path: '/pypi/{repo}/simple' },
    { method: 'GET', path: '/pypi/{repo}/simple/requests/', headers: { accept: 'application/vnd.pypi.simple.v1+json' } },
    { method: 'GET', path: '/pypi/{repo}/simple/Not_Normal/' },
    { method: 'GET', path: '/pypi/{repo}/packages/requests/requests-1.0.tar.gz' },
    { method: 'POST', path: '/pypi/{repo}/', body: 'x', headers: { 'content-type': 'multipart/form-data; boundary=b' } },
  ],
  maven: [
    { method: 'GET', path: '/maven/{repo}/com/example/a/1.0/a-1.0.jar' },
    { method: 'GET', path: '/maven/{repo}/com/example/a/maven-metadata.xml' },
    { method: 'GET', path: '/maven/{repo}/com/example/a/1.0/a-1.0.jar.sha1' },
    { method: 'GET', path: '/maven/{repo}/com/' },
    { method: 'PUT', path: '/maven/{repo}/com/example/a/1.0/a-1.0.jar', body: 'x' },
  ],
  oci: [
    { method: 'GET', path: '/v2/{repo}/img/manifests/latest' },
    { method: 'HEAD', path: '/v2/{repo}/img/manifests/latest' },
    { method: 'GET', path: `/v2/{repo}/img/blobs/sha256:${'a'.repeat(64)}` },
    { method: 'GET', path: '/v2/{repo}/img/tags/list' },
    { method: 'GET', path: `/v2/{repo}/img/referrers/sha256:${'a'.repeat(64)}` },
    { method: 'POST', path: '/v2/{repo}/img/blobs/uploads/' },
    { method: 'PUT', path: '/v2/{repo}/img/manifests/latest', body: '{}', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } },
    { method: 'DELETE', path: '/v2/{repo}/img/manifests/latest' },
    // A method no route takes: refused before or after the lookup alike.
    { method: 'POST', path: '/v2/{repo}/img/manifests/latest' },
    { method: 'GET', path: '/v2/{repo}/img/blobs/uploads/0d4e6c1a-0000-4000-8000-000000000000' },
  ],
  cargo: [
    { method: 'GET', path: '/cargo/{repo}/index/config.json' },
    { method: 'GET', path: '/cargo/{repo}/index/se/rd/serde' },
    { method: 'GET', path: '/cargo/{repo}/api/v1/crates/serde/1.0.0/download' },
    { method: 'GET', path: '/cargo/{repo}/api/v1/crates?q=serde' },
    { method: 'GET', path: '/cargo/{repo}/api/v1/crates/serde/owners' },
    { method: 'PUT', path: '/cargo/{repo}/api/v1/crates/serde/owners', body: '{}', headers: { 'content-type': 'application/json' } },
    { method: 'PUT', path: '/cargo/{repo}/api/v1/crates/new', body: 'x' },
    { method: 'DELETE', path: '/cargo/{repo}/api/v1/crates/serde/1.0.0/yank' },
    { method: 'GET', path: '/cargo/{repo}/me', nodeWide: true },
    { method: 'HEAD', path: '/cargo/{repo}/me', nodeWide: true },
  ],
  go: [
    { method: 'GET', path: '/go/{repo}/example.com/mod/@v/list' },
    { method: 'GET', path: '/go/{repo}/example.com/mod/@v/v1.0.0.zip' },
    { method: 'GET', path: '/go/{repo}/example.com/mod/@latest' },
    { method: 'GET', path: '/go/{repo}' },
    { method: 'PUT', path: '/go/{repo}/example.com/mod/@v/v1.0.0.zip', body: 'x' },
    { method: 'DELETE', path: '/go/{repo}/example.com/mod/@v/v1.0.0.info' },
  ],
  helm: [
    { method: 'GET', path: '/helm/{repo}/index.yaml' },
    { method: 'GET', path: '/helm/{repo}/charts/demo-1.0.0.tgz' },
    { method: 'GET', path: '/helm/{repo}/api/charts' },
    { method: 'GET', path: '/helm/{repo}/api/charts/demo/1.0.0' },
    { method: 'POST', path: '/helm/{repo}/api/charts', body: 'x' },
    { method: 'DELETE', path: '/helm/{repo}/api/charts/demo/1.0.0' },
  ],
}

/** The management API's routes that name a repository. */
const API_PROBES: Probe[] = [
  { method: 'GET', path: '/api/v1/repositories/{repo}' },
  { method: 'PATCH', path: '/api/v1/repositories/{repo}', body: '{"description":"x"}', headers: { 'content-type': 'application/json' } },
  { method: 'PUT', path: '/api/v1/repositories/{repo}', body: '{"description":"x"}', headers: { 'content-type': 'application/json' } },
  { method: 'DELETE', path: '/api/v1/repositories/{repo}' },
  { method: 'GET', path: '/api/v1/permissions?repo={repo}' },
  {
    method: 'PUT',
    path: '/api/v1/permissions',
    body: '{"repo":"{repo}","principalType":"user","principal":"x","actions":["read"]}',
    headers: { 'content-type': 'application/json' },
  },
  { method: 'PUT', path: '/api/v1/go/{repo}/example.com/mod/@v/v1.0.0.zip', body: 'x' },
]

const MISSING = 'no-such-repo'

describe('anonymous callers cannot tell a private repository from a missing one', () => {
  let node: NodeProcess
  /** Per format, the keys of its private repositories (local, and remote or virtual where the format has them). */
  const privateKeys = {} as Record<Format, string[]>
  const OUTSIDER = `Basic ${Buffer.from('outsider:outsider-password').toString('base64')}`

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    })
    expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300)
  }

  const ask = async (probe: Probe, key: string, auth?: string): Promise<Answer> => {
    const fill = (s: string) => s.replaceAll('{repo}', key)
    const res = await fetch(`${node.url}${fill(probe.path)}`, {
      method: probe.method,
      headers: { ...probe.headers, ...(auth ? { authorization: auth } : {}) },
      body: probe.body === undefined ? undefined : fill(probe.body),
      signal: AbortSignal.timeout(20_000),
    })
    const hide = (s: string | null) => (s === null ? null : s.replaceAll(key, '<repo>'))
    return {
      status: res.status,
      challenge: hide(res.headers.get('www-authenticate')),
      contentType: res.headers.get('content-type'),
      body: hide(await res.text()) as string,
    }
  }

  beforeAll(async () => {
    node = await startNodeProcess()
    const unreachable = 'http://127.0.0.1:9/'
    for (const format of FORMATS) {
      await api('POST', '/api/v1/repositories', { key: `secret-${format}`, format })
      await api('POST', '/api/v1/repositories', { key: `public-${format}`, format, public: true })
      privateKeys[format] = [`secret-${format}`]
    }
    // Private remote and virtual repositories, which some formats route apart from local ones.
    for (const format of ['generic', 'npm', 'oci', 'pypi', 'maven'] as const) {
      await api('POST', '/api/v1/repositories', { key: `secret-remote-${format}`, format, type: 'remote', upstream: { url: unreachable } })
      privateKeys[format].push(`secret-remote-${format}`)
    }
    for (const format of ['npm', 'oci', 'pypi', 'maven', 'helm'] as const) {
      await api('POST', '/api/v1/repositories', {
        key: `secret-virtual-${format}`,
        format,
        type: 'virtual',
        settings: { members: [`secret-${format}`, `public-${format}`], defaultDeployRepo: `secret-${format}` },
      })
      privateKeys[format].push(`secret-virtual-${format}`)
    }
    // A private repository of another format, under this format's prefix.
    for (const format of FORMATS) privateKeys[format].push(format === 'npm' ? 'secret-generic' : 'secret-npm')
    await api('POST', '/api/v1/users', { name: 'outsider', password: 'outsider-password' })
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
  })

  for (const format of FORMATS) {
    it(`${format}: every request answers 401 with the same challenge and body, whether the repository exists or not`, async () => {
      for (const probe of PROBES[format]) {
        const missing = await ask(probe, MISSING)
        const where = `${probe.method} ${probe.path}`
        expect(missing.status, where).toBe(401)
        expect(missing.challenge, where).toMatch(format === 'oci' ? /^Bearer realm="/ : format === 'cargo' ? /^Cargo/ : /^Basic realm="/)
        for (const key of privateKeys[format]) expect(await ask(probe, key), `${where} for ${key}`).toEqual(missing)
      }
    })
  }

  it('the management API answers 401 alike for a missing and a private repository', async () => {
    for (const probe of API_PROBES) {
      const missing = await ask(probe, MISSING)
      const where = `${probe.method} ${probe.path}`
      expect(missing.status, where).toBe(401)
      expect(missing.challenge, where).toMatch(/^Basic realm="/)
      for (const key of ['secret-generic', 'secret-oci', 'secret-virtual-npm']) expect(await ask(probe, key), `${where} for ${key}`).toEqual(missing)
    }
  })

  it('an authenticated user without read gets the same 403 for a missing and a private repository', async () => {
    for (const format of FORMATS) {
      for (const probe of PROBES[format].filter((p) => p.method === 'GET' && !p.nodeWide)) {
        const missing = await ask(probe, MISSING, OUTSIDER)
        const where = `${probe.method} ${probe.path}`
        expect(missing.status, where).toBe(403)
        expect(await ask(probe, `secret-${format}`, OUTSIDER), where).toEqual(missing)
      }
    }
    const missing = await ask(API_PROBES[0] as Probe, MISSING, OUTSIDER)
    expect(missing.status).toBe(403)
    expect(await ask(API_PROBES[0] as Probe, 'secret-generic', OUTSIDER)).toEqual(missing)
  })

  it('node-wide routes (npm ping, cargo me) answer any signed-in caller alike, and anonymous ones only on a public repository', async () => {
    for (const format of ['npm', 'cargo'] as const) {
      for (const probe of PROBES[format].filter((p) => p.nodeWide)) {
        const where = `${probe.method} ${probe.path}`
        const missing = await ask(probe, MISSING, OUTSIDER)
        expect(missing.status, where).toBe(200)
        expect(await ask(probe, `secret-${format}`, OUTSIDER), where).toEqual(missing)
        expect((await ask(probe, `public-${format}`)).status, `${where} anonymously on a public repository`).toBe(200)
      }
    }
  })

  it('still tells those who could read it that a repository does not exist', async () => {
    const res = await ask({ method: 'GET', path: '/generic/{repo}/file.txt' }, MISSING, node.adminAuth)
    expect(res.status).toBe(404)
    const api404 = await ask({ method: 'GET', path: '/api/v1/repositories/{repo}' }, MISSING, node.adminAuth)
    expect(api404.status).toBe(404)
    const oci = await ask({ method: 'GET', path: '/v2/{repo}/img/manifests/latest' }, MISSING, node.adminAuth)
    expect(oci.status).toBe(404)
    expect(oci.body).toContain('NAME_UNKNOWN')
  })

  it('answers a missing path in a public repository with 404 as before', async () => {
    const probes: Probe[] = [
      { method: 'GET', path: '/generic/{repo}/nothing.txt' },
      { method: 'GET', path: '/npm/{repo}/left-pad' },
      { method: 'GET', path: '/pypi/{repo}/simple/requests/' },
      { method: 'GET', path: '/maven/{repo}/com/example/a/1.0/a-1.0.jar' },
      { method: 'GET', path: '/v2/{repo}/img/manifests/latest' },
      { method: 'GET', path: '/cargo/{repo}/index/se/rd/serde' },
      { method: 'GET', path: '/go/{repo}/example.com/mod/@v/list' },
      { method: 'GET', path: '/helm/{repo}/charts/demo-1.0.0.tgz' },
    ]
    for (const [i, probe] of probes.entries()) {
      const format = FORMATS[i] as Format
      expect((await ask(probe, `public-${format}`)).status, probe.path).toBe(404)
    }
  })

  it('npm login and whoami work the same under any repository key', async () => {
    const login = (key: string) =>
      ask(
        {
          method: 'PUT',
          path: '/npm/{repo}/-/user/org.couchdb.user:outsider',
          body: JSON.stringify({ name: 'outsider', password: 'wrong-password' }),
          headers: { 'content-type': 'application/json' },
        },
        key,
      )
    const missing = await login(MISSING)
    expect(missing.status).toBe(401)
    expect(await login('secret-npm')).toEqual(missing)
  })
})
