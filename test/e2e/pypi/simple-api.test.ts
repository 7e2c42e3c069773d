import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { buildSdist, buildWheel, sdistFilename, sha256, twineFields, uploadForm, wheelFilename } from './dists.ts'
import { api, createRepo } from './helpers.ts'

// The simple repository API over a real socket: PEP 503 HTML and PEP 691 JSON by content
// negotiation, PEP 658/714 metadata files, PEP 700 fields, name normalisation, virtual merging.

describe('PyPI simple API', () => {
  let node: NodeProcess
  const wheel = wheelFilename('Ak_Lib', '1.2.0')
  let wheelBytes: Buffer
  let sdistBytes: Buffer

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${node.url}${path}`, { headers: { authorization: node.adminAuth, ...headers }, redirect: 'manual', signal: AbortSignal.timeout(30_000) })

  const upload = async (repo: string, filename: string, bytes: Buffer, fields: Record<string, string>, auth = node.adminAuth) =>
    fetch(`${node.url}/pypi/${repo}/`, {
      method: 'POST',
      headers: auth ? { authorization: auth } : {},
      body: uploadForm(filename, bytes, fields),
      signal: AbortSignal.timeout(30_000),
    })

  beforeAll(async () => {
    node = await startNodeProcess()
    await createRepo(node, 'simple-a')
    await createRepo(node, 'simple-b', { public: true })
    await api(node, 'POST', '/repositories', {
      key: 'simple-v', format: 'pypi', type: 'virtual', settings: { members: ['simple-b', 'simple-a'], defaultDeployRepo: 'simple-b' },
    })
    wheelBytes = await buildWheel({ name: 'Ak_Lib', version: '1.2.0', requiresPython: '>=3.8,<4', files: { 'ak_lib/__init__.py': 'A = 1\n' } })
    sdistBytes = await buildSdist({ name: 'Ak_Lib', version: '1.2.0', requiresPython: '>=3.9', files: {} })
    for (const [f, b, t] of [[wheel, wheelBytes, 'bdist_wheel'], [sdistFilename('Ak_Lib', '1.2.0'), sdistBytes, 'sdist']] as const) {
      const res = await upload('simple-a', f, b, twineFields('Ak_Lib', '1.2.0', t, b))
      expect(res.status, await res.text()).toBe(200)
    }
  })

  afterAll(async () => {
    await node?.stop()
  })

  it('serves PEP 503 HTML with the sha256 in the URL, data-requires-python and core-metadata attributes', async () => {
    const res = await get('/pypi/simple-a/simple/ak-lib/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await res.text()
    expect(html).toContain('<meta name="pypi:repository-version" content="1.1">')
    expect(html).toContain(`href="../../packages/ak-lib/${wheel}#sha256=${sha256(wheelBytes)}"`)
    expect(html).toContain('data-requires-python="&gt;=3.8,&lt;4"')
    expect(html).toMatch(new RegExp(`data-core-metadata="sha256=[0-9a-f]{64}" data-dist-info-metadata="sha256=[0-9a-f]{64}">${wheel}<`))
    // The sdist carries Requires-Python from its PKG-INFO but no metadata file.
    expect(html).toMatch(/href="[^"]+ak_lib-1\.2\.0\.tar\.gz#sha256=[0-9a-f]{64}" data-requires-python="&gt;=3.9">/i)
  })

  it('answers PEP 691 JSON when the Accept header prefers it, with PEP 700 versions, size and upload-time', async () => {
    const res = await get('/pypi/simple-a/simple/ak-lib/', {
      accept: 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, text/html;q=0.01',
    })
    expect(res.headers.get('content-type')).toMatch(/^application\/vnd\.pypi\.simple\.v1\+json/)
    expect(res.headers.get('vary')).toMatch(/accept/i)
    const body = (await res.json()) as {
      meta: { 'api-version': string }
      name: string
      versions: string[]
      files: { filename: string; url: string; hashes: { sha256: string }; size: number; 'upload-time': string; 'core-metadata': unknown; 'requires-python'?: string }[]
    }
    expect(body.meta['api-version']).toBe('1.1')
    expect(body.name).toBe('ak-lib')
    expect(body.versions).toEqual(['1.2.0'])
    const w = body.files.find((f) => f.filename === wheel)!
    expect(w.hashes.sha256).toBe(sha256(wheelBytes))
    expect(w.size).toBe(wheelBytes.length)
    expect(w['requires-python']).toBe('>=3.8,<4')
    expect(Date.now() - Date.parse(w['upload-time'])).toBeLessThan(10 * 60_000)
    expect(w['upload-time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/)
    const s = body.files.find((f) => f.filename.endsWith('.tar.gz'))!
    // An sdist without a metadata file has no core-metadata key at all (pip 23.0.1 fails on `false`).
    expect(s).not.toHaveProperty('core-metadata')
    expect(s).not.toHaveProperty('dist-info-metadata')

    // The metadata file is served at {url}.metadata and its hash is the announced one.
    const meta = w['core-metadata'] as { sha256: string }
    const file = await get(`/pypi/simple-a/simple/ak-lib/${w.url}.metadata`.replace('/simple/ak-lib/../../', '/'))
    const bytes = Buffer.from(await file.arrayBuffer())
    expect(file.status).toBe(200)
    expect(sha256(bytes)).toBe(meta.sha256)
    expect(bytes.toString()).toContain('Requires-Python: >=3.8,<4')
  })

  it('falls back to text/html without an Accept header or for */*, and honours ?format=', async () => {
    for (const accept of [undefined, '*/*', 'application/x-unknown']) {
      const res = await get('/pypi/simple-a/simple/', accept ? { accept } : {})
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await res.text()).toContain('<a href="ak-lib/">ak-lib</a>')
    }
    const json = await get(`/pypi/simple-a/simple/?format=${encodeURIComponent('application/vnd.pypi.simple.v1+json')}`)
    expect(await json.json()).toEqual({ meta: { 'api-version': '1.1' }, projects: [{ name: 'ak-lib' }] })
  })

  it('redirects non-normalised project names and missing trailing slashes to the PEP 503 form', async () => {
    const a = await get('/pypi/simple-a/simple/AK.Lib/')
    expect(a.status).toBe(301)
    expect(new URL(a.headers.get('location')!, `${node.url}/pypi/simple-a/simple/AK.Lib/`).pathname).toBe('/pypi/simple-a/simple/ak-lib/')
    const b = await get('/pypi/simple-a/simple/Ak_Lib')
    expect(new URL(b.headers.get('location')!, `${node.url}/pypi/simple-a/simple/Ak_Lib`).pathname).toBe('/pypi/simple-a/simple/ak-lib/')
    const c = await get('/pypi/simple-a/simple')
    expect(new URL(c.headers.get('location')!, `${node.url}/pypi/simple-a/simple`).pathname).toBe('/pypi/simple-a/simple/')
    expect((await get('/pypi/simple-a/simple/no-such-project/')).status).toBe(404)
  })

  it('serves the wheel with the checksums the index announced, Range included', async () => {
    const res = await get(`/pypi/simple-a/packages/ak-lib/${wheel}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-checksum-sha256')).toBe(sha256(wheelBytes))
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(wheelBytes))
    const part = await get(`/pypi/simple-a/packages/ak-lib/${wheel}`, { range: 'bytes=0-3' })
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer()).toString('latin1')).toBe('PK\u0003\u0004')
  })

  it('asks anonymous callers of a private repository for Basic credentials', async () => {
    const res = await fetch(`${node.url}/pypi/simple-a/simple/`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/)
    const up = await upload('simple-b', wheel, wheelBytes, twineFields('Ak_Lib', '1.2.0', 'bdist_wheel', wheelBytes), '')
    expect(up.status).toBe(401)
    expect((await fetch(`${node.url}/pypi/simple-b/simple/`)).status).toBe(200)
    const wrong = await fetch(`${node.url}/pypi/simple-a/simple/`, { headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` } })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic realm=/)
  })

  it('merges member indexes in a virtual repository, the first member winning per filename', async () => {
    // Same filename, other bytes, in the first member: the virtual index and download show it.
    const other = await buildWheel({ name: 'Ak_Lib', version: '1.2.0', files: { 'ak_lib/__init__.py': 'A = 2\n' } })
    const newer = await buildWheel({ name: 'Ak_Lib', version: '1.3.0', files: { 'ak_lib/__init__.py': 'A = 3\n' } })
    // Uploading to the virtual repository lands in its defaultDeployRepo, simple-b.
    expect((await upload('simple-v', wheel, other, twineFields('Ak_Lib', '1.2.0', 'bdist_wheel', other))).status).toBe(200)
    const newerName = wheelFilename('Ak_Lib', '1.3.0')
    expect((await upload('simple-v', newerName, newer, twineFields('Ak_Lib', '1.3.0', 'bdist_wheel', newer))).status).toBe(200)
    const res = await get('/pypi/simple-v/simple/ak-lib/', { accept: 'application/vnd.pypi.simple.v1+json' })
    const body = (await res.json()) as { versions: string[]; files: { filename: string; hashes: { sha256: string } }[] }
    expect(body.files.map((f) => f.filename).sort()).toEqual([sdistFilename('Ak_Lib', '1.2.0'), wheel, newerName].sort())
    expect(body.files.find((f) => f.filename === wheel)!.hashes.sha256).toBe(sha256(other))
    expect(body.versions.sort()).toEqual(['1.2.0', '1.3.0'])
    const dl = await get(`/pypi/simple-v/packages/ak-lib/${wheel}`)
    expect(sha256(Buffer.from(await dl.arrayBuffer()))).toBe(sha256(other))
    const fromA = await get(`/pypi/simple-v/packages/ak-lib/${sdistFilename('Ak_Lib', '1.2.0')}`)
    expect(sha256(Buffer.from(await fromA.arrayBuffer()))).toBe(sha256(sdistBytes))
    expect((await get('/pypi/simple-a/simple/ak-lib/', { accept: 'application/vnd.pypi.simple.v1+json' }).then((r) => r.json()) as { versions: string[] }).versions).toEqual(['1.2.0'])
  })
})
