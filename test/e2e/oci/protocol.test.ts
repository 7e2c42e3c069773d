// The distribution-spec endpoints driven over HTTP against a real node process: the parts of
// the protocol skopeo does not exercise on its own (chunked uploads with out-of-order chunks,
// upload status, cross-repository mount, bad manifests, pagination, referrers, deletes).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from './oci-layout.ts'

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

describe('OCI distribution protocol over HTTP', () => {
  let node: NodeProcess
  const DEV = basic('dev', 'dev-password-1')
  const READER = basic('reader', 'reader-password-1')

  const req = (method: string, path: string, init: { auth?: string | null; headers?: Record<string, string>; body?: Buffer | string } = {}) =>
    fetch(`${node.url}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(init.auth === null ? {} : { authorization: init.auth ?? node.adminAuth }),
        ...init.headers,
      },
      body: init.body,
    })

  const api = async (method: string, path: string, body: unknown) => {
    const res = await req(method, `/api/v1${path}`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  }

  const errorCode = async (res: Response) => ((await res.json()) as { errors: { code: string }[] }).errors[0]?.code

  /** Monolithic upload of `data` to `name`; returns its descriptor. */
  const pushBlob = async (name: string, data: Buffer | string, mediaType = OCI_LAYER) => {
    const buf = Buffer.from(data)
    const digest = sha256(buf)
    const res = await req('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: buf,
    })
    expect(res.status, await res.clone().text()).toBe(201)
    return { mediaType, digest, size: buf.length }
  }

  /** An image manifest with a fresh config and one layer, blobs pushed; returns the body. */
  const imageManifest = async (name: string, seed: string, extra: Record<string, unknown> = {}) => {
    const config = await pushBlob(name, JSON.stringify({ architecture: 'amd64', os: 'linux', seed }), OCI_CONFIG)
    const layer = await pushBlob(name, `layer ${seed}`)
    return JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer], ...extra })
  }

  const putManifest = (name: string, ref: string, body: string, mediaType = OCI_MANIFEST, auth?: string) =>
    req('PUT', `/v2/${name}/manifests/${ref}`, { auth, headers: { 'content-type': mediaType }, body })

  beforeAll(async () => {
    node = await startNodeProcess()
    for (const key of ['proto', 'src', 'dst', 'pages']) await api('POST', '/repositories', { key, format: 'oci', type: 'local' })
    await api('POST', '/repositories', { key: 'virt', format: 'oci', type: 'virtual', settings: { members: ['dst', 'src'], defaultDeployRepo: 'dst' } })
    await api('POST', '/users', { name: 'dev', password: 'dev-password-1' })
    await api('POST', '/users', { name: 'reader', password: 'reader-password-1' })
    await api('PUT', '/permissions', { repo: 'dst', principalType: 'user', principal: 'dev', actions: ['write'] })
    await api('PUT', '/permissions', { repo: 'pages', principalType: 'user', principal: 'reader', actions: ['read'] })
  })

  afterAll(async () => {
    await node?.stop()
  })

  it('answers GET /v2/ with 200 and the API version to an authenticated caller, 401 with a Bearer challenge otherwise', async () => {
    const ok = await req('GET', '/v2/')
    expect(ok.status).toBe(200)
    expect(ok.headers.get('docker-distribution-api-version')).toBe('registry/2.0')
    const anon = await req('GET', '/v2/', { auth: null })
    expect(anon.status).toBe(401)
    expect(anon.headers.get('www-authenticate')).toBe(`Bearer realm="${node.url}/v2/token",service="${new URL(node.url).host}"`)
    expect(await errorCode(anon)).toBe('UNAUTHORIZED')
    // Bad credentials fail in the node's auth hook, before routing: still the OCI error and a scoped challenge.
    const bad = await req('PUT', '/v2/proto/app/manifests/v1', { auth: basic('admin', 'wrong-password') })
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toContain('scope="repository:proto/app:pull,push"')
    expect(await errorCode(bad)).toBe('UNAUTHORIZED')
  })

  it('runs the Docker token flow: challenge with scope, token from Basic credentials, bearer accepted', async () => {
    const manifest = await imageManifest('proto/tok', 'token-flow')
    expect((await putManifest('proto/tok', 'v1', manifest)).status).toBe(201)

    const challenged = await req('GET', '/v2/proto/tok/manifests/v1', { auth: null })
    expect(challenged.status).toBe(401)
    const header = challenged.headers.get('www-authenticate') ?? ''
    expect(header).toContain('scope="repository:proto/tok:pull"')
    const params = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    const tokenUrl = `${params.realm}?service=${encodeURIComponent(params.service ?? '')}&scope=${encodeURIComponent(params.scope ?? '')}`

    const issued = await fetch(tokenUrl, { headers: { authorization: node.adminAuth } })
    expect(issued.status).toBe(200)
    const body = (await issued.json()) as { token: string; access_token: string; expires_in: number; issued_at: string }
    expect(body.access_token).toBe(body.token)
    expect(body.expires_in).toBeGreaterThan(0)
    expect(Number.isNaN(Date.parse(body.issued_at))).toBe(false)

    const pulled = await req('GET', '/v2/proto/tok/manifests/v1', {
      auth: `Bearer ${body.token}`,
      headers: { accept: OCI_MANIFEST },
    })
    expect(pulled.status).toBe(200)
    expect(await pulled.text()).toBe(manifest)

    // A token for nobody is anonymous: still refused on a private repository.
    const anonToken = (await (await fetch(tokenUrl)).json()) as { token: string }
    expect((await req('GET', '/v2/proto/tok/manifests/v1', { auth: `Bearer ${anonToken.token}` })).status).toBe(401)
    // Wrong password at the token endpoint: 401.
    expect((await fetch(tokenUrl, { headers: { authorization: basic('admin', 'nope-nope') } })).status).toBe(401)
  })

  it('takes a chunked upload in order, refuses an out-of-order chunk with 416 and the current Range, and keeps the upload on disk', async () => {
    const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz'.repeat(100))
    const digest = sha256(data)
    const started = await req('POST', '/v2/proto/chunky/blobs/uploads/')
    expect(started.status).toBe(202)
    const location = started.headers.get('location') as string
    const uuid = started.headers.get('docker-upload-uuid') as string
    expect(location).toBe(`/v2/proto/chunky/blobs/uploads/${uuid}`)

    const first = await req('PATCH', location, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': '0-999' },
      body: data.subarray(0, 1000),
    })
    expect(first.status).toBe(202)
    expect(first.headers.get('range')).toBe('0-999')
    expect(first.headers.get('location')).toBe(location)

    // The upload is a temp file under the data dir, holding exactly what arrived.
    const file = join(node.dataDir, 'tmp', 'oci-uploads', uuid)
    expect(statSync(file).size).toBe(1000)

    const skipped = await req('PATCH', location, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': '1500-1999' },
      body: data.subarray(1500, 2000),
    })
    expect(skipped.status).toBe(416)
    expect(skipped.headers.get('range')).toBe('0-999')
    expect(skipped.headers.get('location')).toBe(location)
    expect(await errorCode(skipped)).toBe('BLOB_UPLOAD_INVALID')
    expect(statSync(file).size).toBe(1000)

    const status = await req('GET', location)
    expect(status.status).toBe(204)
    expect(status.headers.get('range')).toBe('0-999')
    expect(status.headers.get('docker-upload-uuid')).toBe(uuid)

    const second = await req('PATCH', location, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': '1000-2999' },
      body: data.subarray(1000, 3000),
    })
    expect(second.status).toBe(202)
    expect(second.headers.get('range')).toBe('0-2999')

    // The last chunk rides on the closing PUT.
    const done = await req('PUT', `${location}?digest=${digest}`, {
      headers: { 'content-type': 'application/octet-stream', 'content-range': `3000-${data.length - 1}` },
      body: data.subarray(3000),
    })
    expect(done.status, await done.clone().text()).toBe(201)
    expect(done.headers.get('docker-content-digest')).toBe(digest)
    expect(done.headers.get('location')).toBe(`/v2/proto/chunky/blobs/${digest}`)
    expect(existsSync(file)).toBe(false)

    const head = await req('HEAD', `/v2/proto/chunky/blobs/${digest}`)
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe(String(data.length))
    expect(head.headers.get('docker-content-digest')).toBe(digest)
    const whole = await req('GET', `/v2/proto/chunky/blobs/${digest}`)
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true)
    const part = await req('GET', `/v2/proto/chunky/blobs/${digest}`, { headers: { range: 'bytes=10-19' } })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${data.length}`)
    expect(await part.text()).toBe(data.subarray(10, 20).toString())

    // The finished upload is gone.
    const after = await req('GET', location)
    expect(after.status).toBe(404)
    expect(await errorCode(after)).toBe('BLOB_UPLOAD_UNKNOWN')
  })

  it('refuses to finish an upload whose bytes do not match the digest, storing nothing', async () => {
    const started = await req('POST', '/v2/proto/bad/blobs/uploads/')
    const location = started.headers.get('location') as string
    await req('PATCH', location, { headers: { 'content-type': 'application/octet-stream' }, body: 'these bytes' })
    const claimed = sha256('other bytes')
    const res = await req('PUT', `${location}?digest=${claimed}`)
    expect(res.status).toBe(400)
    expect(await errorCode(res)).toBe('DIGEST_INVALID')
    expect((await req('HEAD', `/v2/proto/bad/blobs/${claimed}`)).status).toBe(404)
    expect((await req('HEAD', `/v2/proto/bad/blobs/${sha256('these bytes')}`)).status).toBe(404)

    const mono = await req('POST', `/v2/proto/bad/blobs/uploads/?digest=${claimed}`, { body: 'these bytes' })
    expect(mono.status).toBe(400)
    expect(await errorCode(mono)).toBe('DIGEST_INVALID')
    expect((await req('HEAD', `/v2/proto/bad/blobs/${sha256('these bytes')}`)).status).toBe(404)
  })

  it('cancels an upload with DELETE and answers BLOB_UPLOAD_UNKNOWN afterwards', async () => {
    const started = await req('POST', '/v2/proto/cancel/blobs/uploads/')
    const location = started.headers.get('location') as string
    const uuid = started.headers.get('docker-upload-uuid') as string
    expect((await req('DELETE', location)).status).toBe(204)
    expect(existsSync(join(node.dataDir, 'tmp', 'oci-uploads', uuid))).toBe(false)
    const res = await req('PATCH', location, { body: 'x' })
    expect(res.status).toBe(404)
    expect(await errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN')
  })

  it('mounts a blob from another repository only when the caller may read it', async () => {
    const blob = await pushBlob('src/lib', 'shared layer bytes')
    // dev may write 'dst' but not read 'src': the mount becomes a plain upload session.
    const refused = await req('POST', `/v2/dst/app/blobs/uploads/?mount=${blob.digest}&from=src/lib`, { auth: DEV })
    expect(refused.status).toBe(202)
    expect(refused.headers.get('docker-upload-uuid')).toBeTruthy()
    expect((await req('HEAD', `/v2/dst/app/blobs/${blob.digest}`)).status).toBe(404)

    const mounted = await req('POST', `/v2/dst/app/blobs/uploads/?mount=${blob.digest}&from=src/lib`)
    expect(mounted.status).toBe(201)
    expect(mounted.headers.get('location')).toBe(`/v2/dst/app/blobs/${blob.digest}`)
    expect(mounted.headers.get('docker-content-digest')).toBe(blob.digest)
    const got = await req('GET', `/v2/dst/app/blobs/${blob.digest}`, { auth: DEV })
    expect(await got.text()).toBe('shared layer bytes')
  })

  it('refuses bad manifests in the OCI error format and stores nothing', async () => {
    const good = JSON.parse(await imageManifest('proto/badman', 'base')) as Record<string, unknown>
    const cases: [string, string, string, number, string][] = [
      ['not JSON', 'v1', '{"schemaVersion": 2,', 400, 'MANIFEST_INVALID'],
      ['schema 1', 'v1', JSON.stringify({ ...good, schemaVersion: 1 }), 400, 'MANIFEST_INVALID'],
      ['no layers', 'v1', JSON.stringify({ ...good, layers: undefined }), 400, 'MANIFEST_INVALID'],
      ['bad descriptor', 'v1', JSON.stringify({ ...good, config: { mediaType: OCI_CONFIG, digest: 'sha256:zz', size: 1 } }), 400, 'MANIFEST_INVALID'],
      [
        'unknown layer',
        'v1',
        JSON.stringify({ ...good, layers: [{ mediaType: OCI_LAYER, digest: sha256('never pushed'), size: 12 }] }),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      ],
      [
        'index of an unknown manifest',
        'v1',
        JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('nope'), size: 4 }] }),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      ],
      ['digest reference that does not match', sha256('something else'), JSON.stringify(good), 400, 'DIGEST_INVALID'],
      ['invalid tag', '-bad-tag', JSON.stringify(good), 400, 'MANIFEST_INVALID'],
    ]
    for (const [what, ref, body, status, code] of cases) {
      const mediaType = what.startsWith('index') ? OCI_INDEX : OCI_MANIFEST
      const res = await putManifest('proto/badman', ref, body, mediaType)
      expect(res.status, what).toBe(status)
      expect(await errorCode(res), what).toBe(code)
    }
    // Content-Type that contradicts the manifest's mediaType.
    const mismatch = await putManifest('proto/badman', 'v1', JSON.stringify(good), DOCKER_MANIFEST)
    expect(await errorCode(mismatch)).toBe('MANIFEST_INVALID')
    // Over 4 MiB.
    const huge = JSON.stringify({ ...good, annotations: { pad: 'x'.repeat(4 * 1024 * 1024) } })
    const big = await putManifest('proto/badman', 'v1', huge)
    expect(big.status).toBe(413)
    expect(await errorCode(big)).toBe('SIZE_INVALID')

    const tags = await req('GET', '/v2/proto/badman/tags/list')
    expect(tags.status).toBe(404)
    expect(await errorCode(tags)).toBe('NAME_UNKNOWN')
  })

  it('refuses names that break the OCI rules and repositories that do not exist', async () => {
    const upper = await req('GET', '/v2/proto/UPPER/tags/list')
    expect(upper.status).toBe(400)
    expect(await errorCode(upper)).toBe('NAME_INVALID')
    const repoOnly = await req('GET', '/v2/proto/manifests/latest')
    expect(await errorCode(repoOnly)).toBe('NAME_INVALID')
    const unknown = await req('GET', '/v2/nosuchrepo/app/manifests/latest')
    expect(unknown.status).toBe(404)
    expect(await errorCode(unknown)).toBe('NAME_UNKNOWN')
    const badDigest = await req('GET', '/v2/proto/app/blobs/sha256:1234')
    expect(await errorCode(badDigest)).toBe('DIGEST_INVALID')
  })

  it('serves manifests by tag and digest with their media type; Docker schema 2 too', async () => {
    const config = await pushBlob('proto/docker', '{"os":"linux"}', 'application/vnd.docker.container.image.v1+json')
    const layer = await pushBlob('proto/docker', 'docker layer', 'application/vnd.docker.image.rootfs.diff.tar.gzip')
    const body = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] })
    const digest = sha256(body)
    const put = await putManifest('proto/docker', 'latest', body, DOCKER_MANIFEST)
    expect(put.status).toBe(201)
    expect(put.headers.get('docker-content-digest')).toBe(digest)
    expect(put.headers.get('location')).toBe(`/v2/proto/docker/manifests/${digest}`)
    for (const ref of ['latest', digest]) {
      const res = await req('GET', `/v2/proto/docker/manifests/${ref}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe(DOCKER_MANIFEST)
      expect(res.headers.get('docker-content-digest')).toBe(digest)
      expect(await res.text()).toBe(body)
    }
    const head = await req('HEAD', `/v2/proto/docker/manifests/latest`)
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(body)))
    expect((await req('GET', `/v2/proto/docker/manifests/${sha256('unknown')}`)).status).toBe(404)
  })

  it('indexes subjects: OCI-Subject on push, the referrers API with an artifactType filter', async () => {
    const subjectBody = await imageManifest('proto/signed', 'subject')
    const subject = { mediaType: OCI_MANIFEST, digest: sha256(subjectBody), size: Buffer.byteLength(subjectBody) }
    expect((await putManifest('proto/signed', 'v1', subjectBody)).status).toBe(201)

    const empty = await pushBlob('proto/signed', '{}', 'application/vnd.oci.empty.v1+json')
    const sigLayer = await pushBlob('proto/signed', 'signature bytes', 'application/vnd.example.signature')
    const sbomLayer = await pushBlob('proto/signed', 'sbom bytes', 'application/spdx+json')
    const sig = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: empty,
      layers: [sigLayer],
      subject,
      annotations: { 'org.example.signer': 'ci' },
    })
    const sbom = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/spdx+json', config: empty, layers: [sbomLayer], subject })
    const pushedSig = await putManifest('proto/signed', sha256(sig), sig)
    expect(pushedSig.status).toBe(201)
    expect(pushedSig.headers.get('oci-subject')).toBe(subject.digest)
    expect((await putManifest('proto/signed', sha256(sbom), sbom)).status).toBe(201)

    const all = await req('GET', `/v2/proto/signed/referrers/${subject.digest}`)
    expect(all.status).toBe(200)
    expect(all.headers.get('content-type')).toContain(OCI_INDEX)
    const list = (await all.json()) as { manifests: { digest: string; artifactType: string; annotations?: object }[] }
    expect(list.manifests.map((m) => m.digest).sort()).toEqual([sha256(sig), sha256(sbom)].sort())
    expect(list.manifests.find((m) => m.digest === sha256(sig))?.annotations).toEqual({ 'org.example.signer': 'ci' })

    const filtered = await req('GET', `/v2/proto/signed/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`)
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType')
    const only = (await filtered.json()) as { manifests: { digest: string }[] }
    expect(only.manifests.map((m) => m.digest)).toEqual([sha256(sbom)])

    const none = await req('GET', `/v2/proto/signed/referrers/${sha256('no such subject')}`)
    expect(none.status).toBe(200)
    expect(((await none.json()) as { manifests: unknown[] }).manifests).toEqual([])
  })

  it('paginates tags and the catalog with n, last and a Link header; the catalog shows only readable repositories', async () => {
    const body = await imageManifest('pages/app', 'paged')
    for (const tag of ['a', 'b', 'c', 'd', 'e']) expect((await putManifest('pages/app', tag, body)).status).toBe(201)
    const first = await req('GET', '/v2/pages/app/tags/list?n=2')
    expect(await first.json()).toEqual({ name: 'pages/app', tags: ['a', 'b'] })
    expect(first.headers.get('link')).toBe('</v2/pages/app/tags/list?n=2&last=b>; rel="next"')
    const next = await req('GET', '/v2/pages/app/tags/list?n=2&last=b')
    expect(((await next.json()) as { tags: string[] }).tags).toEqual(['c', 'd'])
    const lastPage = await req('GET', '/v2/pages/app/tags/list?n=2&last=d')
    expect(((await lastPage.json()) as { tags: string[] }).tags).toEqual(['e'])
    expect(lastPage.headers.get('link')).toBeNull()

    const body2 = await imageManifest('pages/zeta', 'z')
    expect((await putManifest('pages/zeta', 'v1', body2)).status).toBe(201)
    const asReader = await req('GET', '/v2/_catalog', { auth: READER })
    expect(await asReader.json()).toEqual({ repositories: ['pages/app', 'pages/zeta'] })
    const paged = await req('GET', '/v2/_catalog?n=1', { auth: READER })
    expect(await paged.json()).toEqual({ repositories: ['pages/app'] })
    expect(paged.headers.get('link')).toBe('</v2/_catalog?n=1&last=pages%2Fapp>; rel="next"')
    const asAdmin = (await (await req('GET', '/v2/_catalog')).json()) as { repositories: string[] }
    expect(asAdmin.repositories).toContain('proto/docker')
    expect(asAdmin.repositories).toContain('pages/app')
  })

  it('deletes a tag, a manifest by digest and a blob; delete needs the delete permission', async () => {
    const body = await imageManifest('dst/gone', 'delete-me')
    const digest = sha256(body)
    for (const tag of ['keep', 'drop']) expect((await putManifest('dst/gone', tag, body)).status).toBe(201)

    const denied = await req('DELETE', '/v2/dst/gone/manifests/drop', { auth: DEV })
    expect(denied.status).toBe(403)
    expect(await errorCode(denied)).toBe('DENIED')

    expect((await req('DELETE', '/v2/dst/gone/manifests/drop')).status).toBe(202)
    expect(((await (await req('GET', '/v2/dst/gone/tags/list')).json()) as { tags: string[] }).tags).toEqual(['keep'])
    expect((await req('GET', `/v2/dst/gone/manifests/${digest}`)).status).toBe(200)

    expect((await req('DELETE', `/v2/dst/gone/manifests/${digest}`)).status).toBe(202)
    const gone = await req('GET', '/v2/dst/gone/manifests/keep')
    expect(gone.status).toBe(404)
    expect(await errorCode(gone)).toBe('MANIFEST_UNKNOWN')
    expect((await req('DELETE', `/v2/dst/gone/manifests/${digest}`)).status).toBe(404)

    const layer = (JSON.parse(body) as { layers: { digest: string }[] }).layers[0]?.digest as string
    expect((await req('DELETE', `/v2/dst/gone/blobs/${layer}`)).status).toBe(202)
    const blobGone = await req('GET', `/v2/dst/gone/blobs/${layer}`)
    expect(blobGone.status).toBe(404)
    expect(await errorCode(blobGone)).toBe('BLOB_UNKNOWN')
  })

  it('links blobs another member holds when a manifest is pushed through a virtual repository', async () => {
    const config = await pushBlob('src/shared', '{"os":"linux","v":"virtual"}', OCI_CONFIG)
    const layer = await pushBlob('src/shared', 'layer only in src')
    // The client sees the blobs through the virtual repository, so it does not upload them again.
    expect((await req('HEAD', `/v2/virt/shared/blobs/${layer.digest}`)).status).toBe(200)
    expect((await req('HEAD', `/v2/dst/shared/blobs/${layer.digest}`)).status).toBe(404)
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] })
    const put = await putManifest('virt/shared', 'v1', body)
    expect(put.status, await put.clone().text()).toBe(201)
    // It landed in the deploy target, complete.
    expect(await (await req('GET', '/v2/dst/shared/manifests/v1')).text()).toBe(body)
    expect(await (await req('GET', `/v2/dst/shared/blobs/${layer.digest}`)).text()).toBe('layer only in src')
    // Deletes go through the local repository.
    const del = await req('DELETE', '/v2/virt/shared/manifests/v1')
    expect(del.status).toBe(405)
    expect(await errorCode(del)).toBe('UNSUPPORTED')
  })

  it('drops uploads in progress when the node restarts', async () => {
    const started = await req('POST', '/v2/proto/restart/blobs/uploads/')
    const location = started.headers.get('location') as string
    const uuid = started.headers.get('docker-upload-uuid') as string
    await req('PATCH', location, { headers: { 'content-type': 'application/octet-stream' }, body: 'partial' })
    const dir = join(node.dataDir, 'tmp', 'oci-uploads')
    expect(readdirSync(dir)).toContain(uuid)

    await node.stop()
    node = await startNodeProcess({ dataDir: node.dataDir })
    expect(existsSync(join(dir, uuid))).toBe(false)
    const res = await req('GET', location)
    expect(res.status).toBe(404)
    expect(await errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN')
  })
})
