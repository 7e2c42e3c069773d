// Hole: npm accepted the scope `@..` (and formats let through other names their own clients refuse), storing packages under names no client could ask for.
//
// Replays, over real HTTP against a real `ak serve`, names each format's client rules refuse,
// sent as the raw request line a hostile client writes (`..` and `%2e%2e` unresolved). Every one
// must answer 400 in that client's own error format, and nothing may be stored: every repository
// ends with no artifact, and the listings and reads of each format find nothing.
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { makePackageTgz, publishDocument } from '../formats/npm/fixtures.ts'
import { crateFile, publishBody, publishMetadata } from '../e2e/cargo/crate-builder.ts'
import { chartTgz } from '../e2e/helm/charts.ts'
import { libraryModule } from '../e2e/go/module-zips.ts'
import { buildWheel, twineFields, uploadForm } from '../e2e/pypi/dists.ts'

interface Answer {
  status: number
  contentType: string
  body: string
}

const FORMATS = ['npm', 'pypi', 'maven', 'cargo', 'go', 'helm', 'generic', 'oci'] as const
const repoOf = (format: (typeof FORMATS)[number]) => `${format}-names`

describe('names each client refuses are refused by the node, in that client\'s error format, and nothing is stored', () => {
  let node: NodeProcess

  /** One request with `path` on the wire exactly as given (no URL normalisation). */
  const raw = (method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const { hostname, port } = new URL(node.url)
      const payload = body === undefined ? undefined : Buffer.from(body)
      const req = httpRequest(
        {
          host: hostname,
          port,
          method,
          path,
          headers: { authorization: node.adminAuth, ...(payload ? { 'content-length': String(payload.length) } : {}), ...headers },
          timeout: 15_000,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString() }))
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
      req.on('error', reject)
      // A refusal may come (and close the connection) before the body is all sent.
      req.end(payload)
    })

  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    })
    return { status: r.status, json: (await r.json()) as Record<string, unknown> }
  }

  const artifactCount = async (repo: string) => {
    const r = await api('GET', `/api/v1/repositories/${repo}`)
    expect(r.status).toBe(200)
    return r.json.artifacts
  }

  const json = (a: Answer) => {
    expect(a.contentType, a.body).toMatch(/application\/json/)
    return JSON.parse(a.body) as Record<string, unknown>
  }

  beforeAll(async () => {
    node = await startNodeProcess()
    for (const format of FORMATS) {
      const r = await api('POST', '/api/v1/repositories', { key: repoOf(format), format, type: 'local' })
      expect(r.status, JSON.stringify(r.json)).toBe(201)
    }
  }, 60_000)
  afterAll(async () => {
    await node?.stop()
  })

  it('npm: `@..`, `@../x`, `..`, capitals, core module names and over-long names (validate-npm-package-name, npm-user-validate for scopes)', async () => {
    const repo = repoOf('npm')
    const cases: [string, string, RegExp][] = [
      ['@..%2fx', '@../x', /scope may not start with "."/],
      ['@../x', '@../x', /scope may not start with "."/],
      ['@.%2fx', '@./x', /scope may not start with "."/],
      ['@..', '@..', /URL-friendly/],
      ['..', '..', /cannot start with a period/],
      ['%2e%2e', '..', /cannot start with a period/],
      ['@scope%2f..', '@scope/..', /cannot start with a period/],
      ['Upper', 'Upper', /capital letters/],
      ['@Scope%2fx', '@Scope/x', /scope must be lowercase/],
      ['-dash', '-dash', /hyphen/],
      ['http', 'http', /core module/],
      ['x'.repeat(215), 'x'.repeat(215), /more than 214/],
    ]
    for (const [urlName, name, why] of cases) {
      const doc = publishDocument(name, '1.0.0', await makePackageTgz({ name, version: '1.0.0' }))
      const r = await raw('PUT', `/npm/${repo}/${urlName}`, JSON.stringify(doc), { 'content-type': 'application/json' })
      expect(r.status, `${urlName}: ${r.body}`).toBe(400)
      expect(json(r).error, urlName).toMatch(why)
    }
    // Nothing under any of those names, nor anywhere else in the repository.
    for (const urlName of ['@..%2fx', '@.%2fx', '-dash', 'http']) {
      const r = await raw('GET', `/npm/${repo}/${urlName}`)
      expect(r.status, urlName).toBe(404)
      expect(json(r).error).toEqual(expect.any(String))
    }
    const search = json(await raw('GET', `/npm/${repo}/-/v1/search?text=x`))
    expect(search.objects).toEqual([])
    expect(await artifactCount(repo)).toBe(0)
  })

  it('PyPI: project names outside the core metadata grammar, and versions outside PEP 440', async () => {
    const repo = repoOf('pypi')
    const wheel = await buildWheel({ name: 'okpkg', version: '1.0', files: { 'okpkg/__init__.py': '' } })
    const cases: [string, string, RegExp][] = [
      ['..', '1.0', /invalid value for Name/],
      ['-leading', '1.0', /invalid value for Name/],
      ['trailing-', '1.0', /invalid value for Name/],
      ['spa ce', '1.0', /invalid value for Name/],
      ['ünïcode', '1.0', /invalid value for Name/],
      ['a/b', '1.0', /invalid value for Name/],
      ['okpkg', '1.0.bad', /version/i],
    ]
    for (const [name, version, why] of cases) {
      const form = uploadForm(`okpkg-${version}-py3-none-any.whl`, wheel, twineFields(name, version, 'bdist_wheel', wheel))
      const res = await fetch(`${node.url}/pypi/${repo}/`, { method: 'POST', body: form, headers: { authorization: node.adminAuth }, signal: AbortSignal.timeout(15_000) })
      const text = await res.text()
      expect(res.status, `${name} ${version}: ${text}`).toBe(400)
      expect(res.headers.get('content-type')).toMatch(/text\/plain/)
      expect(text).toMatch(/^400 /)
      expect(text, name).toMatch(why)
    }
    const index = await raw('GET', `/pypi/${repo}/simple/`, undefined, { accept: 'application/vnd.pypi.simple.v1+json' })
    expect(index.status).toBe(200)
    expect(JSON.parse(index.body).projects).toEqual([])
    expect(await artifactCount(repo)).toBe(0)
  })

  it('Maven: `..` and separators inside a coordinate, control characters', async () => {
    const repo = repoOf('maven')
    for (const path of [
      'com/../x/a/1.0/a-1.0.jar',
      'com/%2e%2e/x/a/1.0/a-1.0.jar',
      'com/x/a..b/1.0/a..b-1.0.jar',
      'com/x/a/1..0/a-1..0.jar',
      'com/x/../1.0/..-1.0.jar',
      'com%2fx/a/1.0/a-1.0.jar',
      'com\\x/a/1.0/a-1.0.jar',
      'com/x/a%00/1.0/a%00-1.0.jar',
      'com/x/a/1.0%2f..%2f/a-1.0.jar',
    ]) {
      const r = await raw('PUT', `/maven/${repo}/${path}`, 'jar bytes')
      expect(r.status, `${path}: ${r.body}`).toBe(400)
      expect(r.contentType).toMatch(/text\/plain/)
      expect(r.body).toMatch(/^400 AK_INVALID_PATH: /)
    }
    expect(json(await raw('GET', `/maven/${repo}/`)).children).toEqual([])
    expect(await artifactCount(repo)).toBe(0)
  })

  it('cargo: reserved Windows names, non-ASCII, over 64 characters, not starting with a letter; versions outside semver', async () => {
    const repo = repoOf('cargo')
    const crate = await crateFile('okcrate', '1.0.0')
    const cases: [string, string, RegExp][] = [
      ['nul', '1.0.0', /reserved/],
      ['CON', '1.0.0', /reserved/],
      ['café', '1.0.0', /ASCII/],
      ['ünï', '1.0.0', /ASCII/],
      ['a'.repeat(65), '1.0.0', /too long/],
      ['1abc', '1.0.0', /starting with a letter/],
      ['../x', '1.0.0', /ASCII/],
      ['okcrate', '1.0', /semver/],
    ]
    for (const [name, vers, why] of cases) {
      const r = await raw('PUT', `/cargo/${repo}/api/v1/crates/new`, publishBody(publishMetadata(name, vers), crate))
      expect(r.status, `${name}: ${r.body}`).toBe(400)
      const errors = json(r).errors as { detail: string }[]
      expect(errors[0]?.detail, name).toMatch(why)
    }
    expect(json(await raw('GET', `/cargo/${repo}/api/v1/crates?q=`)).crates).toEqual([])
    expect(await artifactCount(repo)).toBe(0)
  })

  it('Go: `..` elements (raw and %2e%2e), unescaped capitals, a first element without a dot, non-canonical versions', async () => {
    const repo = repoOf('go')
    const zip = await libraryModule('example.com/x', 'v1.0.0', 'hi')
    for (const [path, why] of [
      ['example.com/../x/@v/v1.0.0.zip', /invalid path element ".."|missing dot/],
      ['example.com/%2e%2e/x/@v/v1.0.0.zip', /invalid path element ".."|missing dot/],
      ['example.com/./x/@v/v1.0.0.zip', /invalid path element "\."/],
      ['Example.com/x/@v/v1.0.0.zip', /case-encoded/],
      ['nodot/x/@v/v1.0.0.zip', /missing dot/],
      ['example.com/x/@v/v1.0.zip', /canonical/],
      ['example.com/x/@v/1.0.0.zip', /canonical/],
    ] as const) {
      const r = await raw('PUT', `/go/${repo}/${path}`, zip, { 'content-type': 'application/zip' })
      expect(r.status, `${path}: ${r.body}`).toBe(400)
      expect(r.contentType).toMatch(/text\/plain/)
      expect(r.body, path).toMatch(why)
    }
    expect((await raw('GET', `/go/${repo}/example.com/x/@v/list`)).status).toBe(404)
    expect(await artifactCount(repo)).toBe(0)
  })

  it('Helm: chart names other than lower case letters, digits and dashes', async () => {
    const repo = repoOf('helm')
    for (const name of ['Upper', 'camelCase', 'under_score', 'dot.ted', 'trailing-', 'double--dash']) {
      const r = await raw('POST', `/helm/${repo}/api/charts`, await chartTgz({ name, version: '1.0.0' }), { 'content-type': 'application/octet-stream' })
      expect(r.status, `${name}: ${r.body}`).toBe(400)
      expect(json(r).error, name).toMatch(/chart name/)
    }
    const index = await raw('GET', `/helm/${repo}/index.yaml`)
    expect(index.status).toBe(200)
    expect(index.body).toMatch(/^entries: \{\}$/m)
    expect(await artifactCount(repo)).toBe(0)
  })

  it('OCI: capitals, `..` (raw and encoded), separators outside the spec grammar, in every endpoint that takes a name', async () => {
    const repo = repoOf('oci')
    const blob = Buffer.from('layer')
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] })
    const requests: [string, string, Buffer | string | undefined][] = [
      ['POST', `/v2/${repo}/Upper/blobs/uploads/?digest=${digest}`, blob],
      ['POST', `/v2/${repo}/../x/blobs/uploads/`, undefined],
      ['POST', `/v2/${repo}/a/../b/blobs/uploads/`, undefined],
      ['PUT', `/v2/${repo}/a/../b/manifests/latest`, manifest],
      ['PUT', `/v2/${repo}/%2e%2e/b/manifests/latest`, manifest],
      ['PUT', `/v2/${repo}/a..b/manifests/latest`, manifest],
      ['PUT', `/v2/${repo}/a___b/manifests/latest`, manifest],
      ['PUT', `/v2/${repo}/-x/manifests/latest`, manifest],
      ['PUT', `/v2/${repo}/x-/manifests/latest`, manifest],
      ['PUT', `/v2/${repo}/%C3%9Cber/manifests/latest`, manifest],
      ['GET', `/v2/${repo}/Upper/tags/list`, undefined],
      ['POST', `/v2/${repo}/x/blobs/uploads/?mount=${digest}&from=${repo}/Upper`, undefined],
    ]
    for (const [method, path, body] of requests) {
      const r = await raw(method, path, body, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' })
      if (method === 'POST' && path.includes('mount=')) {
        // A bad `from` is no source to mount from: the spec's answer is a plain upload session.
        expect(r.status, `${path}: ${r.body}`).toBe(202)
        continue
      }
      expect(r.status, `${method} ${path}: ${r.body}`).toBe(400)
      const errors = json(r).errors as { code: string; message: string }[]
      expect(errors[0]?.code, path).toBe('NAME_INVALID')
    }
    expect(json(await raw('GET', '/v2/_catalog')).repositories).toEqual([])
    expect(await artifactCount(repo)).toBe(0)
  })

  it('generic: `..` (raw, %2e%2e, mixed case), NUL and other control characters, backslashes (raw and %5c), empty segments', async () => {
    const repo = repoOf('generic')
    for (const path of ['a/../b', 'a/%2e%2e/b', 'a/%2E%2e/b', 'a/.%2e/b', '%2e%2e/x', 'a/./b', 'a%00b', 'a%01b', 'a%7fb', 'a%0ab', 'a\\b', 'a%5cb', 'a//b', 'a/%2fb']) {
      const r = await raw('PUT', `/generic/${repo}/${path}`, 'x', { 'content-type': 'application/octet-stream' })
      expect(r.status, `${path}: ${r.body}`).toBe(400)
      expect(json(r)).toMatchObject({ error: 'AK_INVALID_PATH', message: expect.any(String) })
    }
    expect(json(await raw('GET', `/generic/${repo}/`)).children).toEqual([])
    expect(await artifactCount(repo)).toBe(0)
  })
})
