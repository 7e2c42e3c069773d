// Protocol details found by outside testing: OCI responses carried `; charset=utf-8` after their media types (the conformance suite fails on the referrers one), and the PyPI JSON simple API sent `"core-metadata": false` (which Debian 12's pip 23.0.1 fails on for sdist-only projects) and `"dist-info-metadata": {"sha256": …}` (on which it crashes with `TypeError: unhashable type: 'dict'`).
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { buildSdist, buildWheel, sdistFilename, twineFields, uploadForm, wheelFilename } from '../e2e/pypi/dists.ts'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const PEP691 = 'application/vnd.pypi.simple.v1+json'
const digestOf = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** A PEP 691 page as an upstream index may send it: the old key with a hash dict, and `false`. */
const UPSTREAM_PAGE = JSON.stringify({
  meta: { 'api-version': '1.1' },
  name: 'upstream-proj',
  files: [
    {
      filename: 'upstream_proj-1.0-py3-none-any.whl',
      url: '/files/upstream_proj-1.0-py3-none-any.whl',
      hashes: { sha256: 'a'.repeat(64) },
      'dist-info-metadata': { sha256: 'b'.repeat(64) },
    },
    { filename: 'upstream_proj-1.0.tar.gz', url: '/files/upstream_proj-1.0.tar.gz', hashes: { sha256: 'c'.repeat(64) }, 'dist-info-metadata': false, 'core-metadata': false },
  ],
})

describe('protocol details clients compare exactly', () => {
  let node: NodeProcess
  let upstream: Server

  const req = (method: string, path: string, init: { headers?: Record<string, string>; body?: string | Buffer | FormData; auth?: boolean } = {}) =>
    fetch(`${node.url}${path}`, {
      method,
      headers: { ...(init.auth === false ? {} : { authorization: node.adminAuth }), ...init.headers },
      body: init.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    })
  const api = async (body: unknown) => {
    const res = await req('POST', '/api/v1/repositories', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect(res.status, await res.clone().text()).toBe(201)
  }
  const pushBlob = async (name: string, data: string, mediaType: string) => {
    const digest = digestOf(data)
    const res = await req('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, { headers: { 'content-type': 'application/octet-stream' }, body: data })
    expect(res.status, await res.clone().text()).toBe(201)
    return { mediaType, digest, size: Buffer.byteLength(data) }
  }
  const putManifest = async (name: string, ref: string, body: string, mediaType: string) => {
    const res = await req('PUT', `/v2/${name}/manifests/${ref}`, { headers: { 'content-type': mediaType }, body })
    expect(res.status, await res.clone().text()).toBe(201)
  }

  let subject: string
  let dockerDigest: string

  beforeAll(async () => {
    upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.pypi.simple.v1+json' })
      res.end(UPSTREAM_PAGE)
    })
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
    node = await startNodeProcess()
    await api({ key: 'py-remote', format: 'pypi', type: 'remote', upstream: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/simple` } })
    await api({ key: 'images', format: 'oci' })
    await api({ key: 'py', format: 'pypi' })

    const config = await pushBlob('images/app', '{"architecture":"amd64","os":"linux"}', OCI_CONFIG)
    const layer = await pushBlob('images/app', 'layer bytes', 'application/vnd.oci.image.layer.v1.tar+gzip')
    const image = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] })
    subject = digestOf(image)
    await putManifest('images/app', 'v1', image, OCI_MANIFEST)
    const empty = await pushBlob('images/app', '{}', 'application/vnd.oci.empty.v1+json')
    const sig = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: empty,
      layers: [empty],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: Buffer.byteLength(image) },
    })
    await putManifest('images/app', digestOf(sig), sig, OCI_MANIFEST)
    const docker = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { ...config, mediaType: 'application/vnd.docker.container.image.v1+json' },
      layers: [{ ...layer, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }],
    })
    dockerDigest = digestOf(docker)
    await putManifest('images/app', 'docker', docker, DOCKER_MANIFEST)
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: subject, size: Buffer.byteLength(image) }] })
    await putManifest('images/app', 'multi', index, OCI_INDEX)

    // An sdist without a metadata file, and a wheel with one (PEP 658).
    const sdist = await buildSdist({ name: 'only-sdist', version: '1.0', files: {} })
    const wheel = await buildWheel({ name: 'with-wheel', version: '1.0', files: { 'with_wheel/__init__.py': '' } })
    for (const [filename, bytes, name, type] of [
      [sdistFilename('only-sdist', '1.0'), sdist, 'only-sdist', 'sdist'],
      [wheelFilename('with-wheel', '1.0'), wheel, 'with-wheel', 'bdist_wheel'],
    ] as const) {
      const res = await req('POST', '/pypi/py/', { body: uploadForm(filename, bytes, twineFields(name, '1.0', type, bytes)) })
      expect(res.status, await res.clone().text()).toBe(200)
    }
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    await new Promise((r) => upstream?.close(r))
  })

  it('sends every OCI media type exactly, without a charset', async () => {
    const exact: [string, string, string][] = [
      ['GET', '/v2/images/app/manifests/v1', OCI_MANIFEST],
      ['HEAD', '/v2/images/app/manifests/v1', OCI_MANIFEST],
      ['GET', `/v2/images/app/manifests/${subject}`, OCI_MANIFEST],
      ['GET', '/v2/images/app/manifests/docker', DOCKER_MANIFEST],
      ['GET', `/v2/images/app/manifests/${dockerDigest}`, DOCKER_MANIFEST],
      ['GET', '/v2/images/app/manifests/multi', OCI_INDEX],
      ['GET', `/v2/images/app/referrers/${subject}`, OCI_INDEX],
      ['GET', `/v2/images/app/referrers/${subject}?artifactType=application/vnd.example.signature`, OCI_INDEX],
      ['GET', `/v2/images/app/referrers/${digestOf('nothing refers to this')}`, OCI_INDEX],
      ['GET', '/v2/images/app/tags/list', 'application/json'],
      ['GET', '/v2/_catalog', 'application/json'],
      ['GET', '/v2/', 'application/json'],
      ['GET', '/v2/token', 'application/json'],
    ]
    for (const [method, path, type] of exact) {
      const res = await req(method, path, { headers: { accept: [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST].join(', ') } })
      expect(res.status, `${method} ${path}`).toBe(200)
      expect(res.headers.get('content-type'), `${method} ${path}`).toBe(type)
      await res.arrayBuffer()
    }
    const referrers = (await (await req('GET', `/v2/images/app/referrers/${subject}`)).json()) as { mediaType: string; manifests: { artifactType?: string }[] }
    expect(referrers.mediaType).toBe(OCI_INDEX)
    expect(referrers.manifests.map((m) => m.artifactType)).toEqual(['application/vnd.example.signature'])
  })

  it('sends OCI errors as application/json, without a charset', async () => {
    for (const [method, path, auth] of [
      ['GET', '/v2/images/app/manifests/nope', true],
      ['GET', '/v2/images/nothing/tags/list', true],
      ['GET', '/v2/images/app/manifests/v1', false],
      ['GET', '/v2/', false],
    ] as const) {
      const res = await req(method, path, { auth })
      expect(res.status, path).toBeGreaterThanOrEqual(400)
      expect(res.headers.get('content-type'), `${method} ${path} (${res.status})`).toBe('application/json')
      expect(((await res.json()) as { errors: unknown[] }).errors.length).toBe(1)
    }
  })

  it('leaves the core-metadata keys out for a file without a metadata file (PEP 691 JSON)', async () => {
    const sdistOnly = await req('GET', '/pypi/py/simple/only-sdist/', { headers: { accept: PEP691 } })
    expect(sdistOnly.status).toBe(200)
    expect(sdistOnly.headers.get('content-type')).toMatch(/^application\/vnd\.pypi\.simple\.v1\+json/)
    const text = await sdistOnly.text()
    expect(text).not.toContain('core-metadata')
    expect(text).not.toContain('dist-info-metadata')
    const page = JSON.parse(text) as { files: Record<string, unknown>[] }
    expect(page.files).toHaveLength(1)
    expect(page.files[0]).not.toHaveProperty('core-metadata')

    // A wheel's metadata file is announced as core-metadata only: pip 23.0.1 crashes with
    // `TypeError: unhashable type: 'dict'` on `"dist-info-metadata": {"sha256": …}` (PEP 714).
    const wheelText = await (await req('GET', '/pypi/py/simple/with-wheel/', { headers: { accept: PEP691 } })).text()
    expect(wheelText).not.toContain('dist-info-metadata')
    const wheel = JSON.parse(wheelText) as { files: Record<string, unknown>[] }
    expect(wheel.files[0]?.['core-metadata']).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/) })
    // The HTML attributes are strings every pip reads: both stay.
    const wheelHtml = await (await req('GET', '/pypi/py/simple/with-wheel/', { headers: { accept: 'text/html' } })).text()
    expect(wheelHtml).toMatch(/data-core-metadata="sha256=[0-9a-f]{64}" data-dist-info-metadata="sha256=[0-9a-f]{64}"/)

    // And the HTML page has no data-core-metadata attribute for the sdist.
    const html = await (await req('GET', '/pypi/py/simple/only-sdist/', { headers: { accept: 'text/html' } })).text()
    expect(html).toContain('only_sdist-1.0.tar.gz')
    expect(html).not.toContain('data-core-metadata')
    expect(html).not.toContain('data-dist-info-metadata')
  })

  it('rewrites an upstream page the same way: core-metadata only, and only where there is metadata', async () => {
    const res = await req('GET', '/pypi/py-remote/simple/upstream-proj/', { headers: { accept: PEP691 } })
    const text = await res.text()
    expect(res.status, text).toBe(200)
    expect(text).not.toContain('dist-info-metadata')
    const page = JSON.parse(text) as { files: Record<string, unknown>[] }
    expect(page.files.map((f) => f.filename)).toEqual(['upstream_proj-1.0-py3-none-any.whl', 'upstream_proj-1.0.tar.gz'])
    expect(page.files[0]?.['core-metadata']).toEqual({ sha256: 'b'.repeat(64) })
    expect(page.files[1]).not.toHaveProperty('core-metadata')
  })

  it('keeps the simple index usable by browsers: no sandbox, but nothing may run in it', async () => {
    const res = await req('GET', '/pypi/py/simple/', { headers: { accept: 'text/html' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(await res.text()).toContain('<a href="only-sdist/">only-sdist</a>')
  })
})
