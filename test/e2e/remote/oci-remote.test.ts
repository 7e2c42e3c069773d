// Remote (pull-through cache) OCI repositories driven by skopeo: an UPSTREAM node process with a
// private local OCI repository (images pushed with skopeo), a counting proxy in front of it, and
// an EDGE node process whose remote repository points at `<proxy>/images`, so the edge goes
// through the Docker token flow (401 → /v2/token with Basic credentials → Bearer).
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { ADMIN_PASSWORD, startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'
import { startCountingProxy, type CountingProxy } from '../../formats/remote/index.ts'
import { Layout, OCI_MANIFEST, run, sha256 } from '../oci/oci-layout.ts'
import { startLyingRegistry, startTokenRegistry, type LyingRegistry, type TokenRegistry } from './oci-support.ts'

const hasSkopeo = requireClient('skopeo', 'apt-get install -y skopeo')

describe.skipIf(!hasSkopeo)('OCI through a remote repository', () => {
  let upstream: NodeProcess
  let edge: NodeProcess
  let proxy: CountingProxy
  let liar: LyingRegistry
  let tokened: TokenRegistry
  let work: string
  let env: Record<string, string>
  const adminCreds = `admin:${ADMIN_PASSWORD}`
  let app: { digest: string; config: string; layer: string }
  const burst = randomBytes(1536 * 1024)
  const burstDigest = sha256(burst)
  const headOnly = randomBytes(1024 * 1024)

  const api = async (node: NodeProcess, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: node.adminAuth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    return { status: res.status, json: (await res.json().catch(() => undefined)) as Record<string, unknown> }
  }
  const artifactCount = async (key: string) => (await api(edge, 'GET', `/api/v1/repositories/${key}`)).json.artifacts as number

  const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args], env, 120_000)
  const hostOf = (n: NodeProcess) => new URL(n.url).host
  const pullFromEdge = (ref: string, dest: string) =>
    skopeo('copy', '--src-tls-verify=false', '--src-creds', adminCreds, `docker://${hostOf(edge)}/${ref}`, dest)

  /** A monolithic blob upload to the upstream node (distribution-spec § Pushing a blob monolithically). */
  const pushBlob = async (name: string, data: Buffer) => {
    const res = await fetch(`${upstream.url}/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, {
      method: 'POST',
      headers: { authorization: upstream.adminAuth, 'content-type': 'application/octet-stream' },
      body: data,
    })
    expect(res.status, await res.text()).toBe(201)
  }

  beforeAll(async () => {
    work = tempDir('ak-remote-oci-')
    const home = join(work, 'home')
    mkdirSync(home)
    env = { HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: join(home, '.config'), REGISTRY_AUTH_FILE: join(home, 'auth.json') }
    upstream = await startNodeProcess()
    proxy = await startCountingProxy(upstream.url)
    edge = await startNodeProcess()
    liar = await startLyingRegistry()
    tokened = await startTokenRegistry()
    expect((await api(upstream, 'POST', '/api/v1/repositories', { key: 'images', format: 'oci' })).status).toBe(201)
    const credentials = { username: 'admin', password: ADMIN_PASSWORD }
    // metadataTtlMs 0: every tag read revalidates, so the tests see conditional requests and stale answers.
    const hub = { key: 'hub', format: 'oci', type: 'remote', public: true, upstream: { url: `${proxy.url}/images`, ...credentials }, settings: { metadataTtlMs: 0 } }
    expect((await api(edge, 'POST', '/api/v1/repositories', hub)).status).toBe(201)
    expect((await api(edge, 'POST', '/api/v1/repositories', { key: 'edge-local', format: 'oci' })).status).toBe(201)
    const all = { key: 'all', format: 'oci', type: 'virtual', settings: { members: ['edge-local', 'hub'], defaultDeployRepo: 'edge-local' } }
    expect((await api(edge, 'POST', '/api/v1/repositories', all)).status).toBe(201)
    const lies = { key: 'liar', format: 'oci', type: 'remote', public: true, upstream: { url: `${liar.url}/lies` } }
    expect((await api(edge, 'POST', '/api/v1/repositories', lies)).status).toBe(201)
    const short = { key: 'short', format: 'oci', type: 'remote', public: true, upstream: { url: tokened.url }, settings: { metadataTtlMs: 0 } }
    expect((await api(edge, 'POST', '/api/v1/repositories', short)).status).toBe(201)

    const src = new Layout(join(work, 'src'))
    const image = await src.addImage({ 'hello.txt': 'hello through the edge\n' })
    src.tag(image, 'v1')
    const manifest = JSON.parse(src.readBlob(image.digest).toString()) as { config: { digest: string }; layers: { digest: string }[] }
    app = { digest: image.digest, config: manifest.config.digest, layer: manifest.layers[0]?.digest as string }
    const pushed = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', adminCreds, `oci:${src.dir}:v1`, `docker://${hostOf(upstream)}/images/team/app:v1`)
    expect(pushed.code, pushed.stderr).toBe(0)
    await pushBlob('images/burst', burst)
    await pushBlob('images/burst', headOnly)
  }, 120_000)

  afterAll(async () => {
    await edge?.stop()
    await upstream?.stop()
    await proxy?.close()
    await liar?.close()
    await tokened?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('skopeo copies an image from the edge, which fetched it upstream with a bearer token', async () => {
    const out = join(work, 'out1')
    const pulled = await pullFromEdge('hub/team/app:v1', `oci:${out}:v1`)
    expect(pulled.code, `${pulled.stderr}\n${edge.output().slice(-3000)}`).toBe(0)
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }
    expect(index.manifests[0]?.digest).toBe(app.digest)
    for (const d of [app.config, app.layer]) expect(sha256(readFileSync(join(out, 'blobs', 'sha256', d.slice(7))))).toBe(d)

    // Docker token auth: one token request with the configured Basic credentials, for the upstream name.
    const tokenRequests = proxy.seen.filter((s) => s.url.startsWith('/v2/token'))
    expect(tokenRequests.length).toBe(1)
    expect(tokenRequests[0]?.headers.authorization).toBe(`Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`)
    expect(new URL(tokenRequests[0]?.url as string, 'http://x').searchParams.get('scope')).toBe('repository:images/team/app:pull')
    const manifestRequests = proxy.seen.filter((s) => s.url === '/v2/images/team/app/manifests/v1')
    expect(manifestRequests.length).toBeGreaterThan(0)
    for (const r of manifestRequests) expect(r.headers.authorization).toMatch(/^Bearer /)
    expect(proxy.count(`/v2/images/team/app/blobs/${app.layer}`)).toBe(1)

    // A second copy: the tag is revalidated (304), the blobs come from the edge's store.
    const again = await pullFromEdge('hub/team/app:v1', `oci:${join(work, 'out2')}:v1`)
    expect(again.code, again.stderr).toBe(0)
    expect(proxy.count(`/v2/images/team/app/blobs/${app.layer}`)).toBe(1)
    expect(proxy.count(`/v2/images/team/app/blobs/${app.config}`)).toBe(1)
    const revalidated = proxy.seen.filter((s) => s.url === '/v2/images/team/app/manifests/v1').pop()
    expect(revalidated?.headers['if-none-match']).toBeDefined()
    expect(revalidated?.status).toBe(304)
    expect(proxy.seen.filter((s) => s.url.startsWith('/v2/token')).length).toBe(1)

    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', '--creds', adminCreds, `docker://${hostOf(edge)}/hub/team/app@${app.digest}`)
    expect(raw.code, raw.stderr).toBe(0)
    expect(sha256(raw.stdout)).toBe(app.digest)
  })

  it('20 concurrent pulls of the same uncached blob make one upstream request', async () => {
    const url = `${edge.url}/v2/hub/burst/blobs/${burstDigest}`
    const bodies = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(60_000) })
        expect(res.status).toBe(200)
        expect(res.headers.get('docker-content-digest')).toBe(burstDigest)
        return Buffer.from(await res.arrayBuffer())
      }),
    )
    for (const b of bodies) expect(sha256(b)).toBe(burstDigest)
    expect(proxy.count(`/v2/images/burst/blobs/${burstDigest}`)).toBe(1)
    const hit = await fetch(url, { method: 'HEAD' })
    expect(hit.headers.get('x-ak-cache')).toBe('HIT')
    expect(hit.headers.get('content-length')).toBe(String(burst.length))
  })

  it('answers HEAD of an uncached 1 MiB blob as soon as it is stored (regression)', async () => {
    // The bug: a fetch with no client to stream to (HEAD) left the tee's client branch unread,
    // so past its 256 KiB buffer the download waited the whole upstream timeout (30 s) for a reader.
    const started = Date.now()
    const res = await fetch(`${edge.url}/v2/hub/burst/blobs/${sha256(headOnly)}`, { method: 'HEAD', signal: AbortSignal.timeout(20_000) })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBe(String(headOnly.length))
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(proxy.count(`/v2/images/burst/blobs/${sha256(headOnly)}`)).toBe(1)
  })

  it('indexes what it fetched: tags list and referrers answer from the cache', async () => {
    // A referrer of app:v1 pushed upstream, then read once through the edge by digest.
    const config = Buffer.from('{}')
    await pushBlob('images/team/app', config)
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.sbom',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length }],
        subject: { mediaType: OCI_MANIFEST, digest: app.digest, size: 1 },
      }),
    )
    const put = await fetch(`${upstream.url}/v2/images/team/app/manifests/${sha256(referrer)}`, {
      method: 'PUT',
      headers: { authorization: upstream.adminAuth, 'content-type': OCI_MANIFEST },
      body: referrer,
    })
    expect(put.status, await put.text()).toBe(201)
    const got = await fetch(`${edge.url}/v2/hub/team/app/manifests/${sha256(referrer)}`)
    expect(got.status).toBe(200)
    expect(got.headers.get('content-type')).toBe(OCI_MANIFEST)
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(referrer))

    const referrers = (await (await fetch(`${edge.url}/v2/hub/team/app/referrers/${app.digest}`)).json()) as { manifests: { digest: string; artifactType: string }[] }
    expect(referrers.manifests).toEqual([expect.objectContaining({ digest: sha256(referrer), artifactType: 'application/vnd.example.sbom' })])
    const tags = await skopeo('list-tags', '--tls-verify=false', '--creds', adminCreds, `docker://${hostOf(edge)}/hub/team/app`)
    expect(tags.code, tags.stderr).toBe(0)
    expect(JSON.parse(tags.stdout).Tags).toEqual(['v1'])
  })

  it('refuses pushes to a remote repository with an OCI error', async () => {
    const res = await fetch(`${edge.url}/v2/hub/team/app/blobs/uploads/`, { method: 'POST', headers: { authorization: edge.adminAuth } })
    expect(res.status).toBe(405)
    const body = (await res.json()) as { errors: { code: string; message: string }[] }
    expect(body.errors[0]?.code).toBe('UNSUPPORTED')
    const src = new Layout(join(work, 'refused'))
    src.tag(await src.addImage({ 'x.txt': 'x\n' }), 'v1')
    const pushed = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', adminCreds, `oci:${src.dir}:v1`, `docker://${hostOf(edge)}/hub/team/pushed:v1`)
    expect(pushed.code).not.toBe(0)
    expect(pushed.stderr).toMatch(/unsupported|remote repository/i)
  })

  it('a virtual repository over a local and a remote member serves both, and pushes to the local one', async () => {
    const src = new Layout(join(work, 'mine'))
    const mine = await src.addImage({ 'mine.txt': 'pushed at the edge\n' })
    src.tag(mine, 'v1')
    const pushed = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', adminCreds, `oci:${src.dir}:v1`, `docker://${hostOf(edge)}/all/mine:v1`)
    expect(pushed.code, pushed.stderr).toBe(0)
    expect(await artifactCount('edge-local')).toBeGreaterThan(0)

    const local = await pullFromEdge('all/mine:v1', `oci:${join(work, 'via-all-local')}:v1`)
    expect(local.code, local.stderr).toBe(0)
    const remote = await pullFromEdge('all/team/app:v1', `oci:${join(work, 'via-all-remote')}:v1`)
    expect(remote.code, remote.stderr).toBe(0)
    const index = JSON.parse(readFileSync(join(work, 'via-all-remote', 'index.json'), 'utf8')) as { manifests: { digest: string }[] }
    expect(index.manifests[0]?.digest).toBe(app.digest)
    // Through the virtual repository, the remote member's tag is revalidated like a direct read.
    const before = proxy.count('/v2/images/team/app/manifests/v1')
    const res = await fetch(`${edge.url}/v2/all/team/app/manifests/v1`, { headers: { authorization: edge.adminAuth } })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ak-cache')).toBe('REVALIDATED')
    await res.arrayBuffer()
    expect(proxy.count('/v2/images/team/app/manifests/v1')).toBe(before + 1)
    const missing = await fetch(`${edge.url}/v2/all/team/nothing/manifests/v9`, { headers: { authorization: edge.adminAuth } })
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('MANIFEST_UNKNOWN')
  })

  it('a lying upstream (bytes that do not match their digest) is an error, and nothing is stored', async () => {
    const before = await artifactCount('liar')
    // The tag resolves (its digest is what its bytes hash to); the layer it names does not match.
    const manifest = await fetch(`${edge.url}/v2/liar/app/manifests/v1`)
    expect(manifest.status).toBe(200)
    await manifest.arrayBuffer()
    const afterTag = await artifactCount('liar')
    expect(afterTag).toBe(before + 2) // the tag and its manifest

    const blobUrl = `${edge.url}/v2/liar/app/blobs/${liar.layerDigest}`
    const res = await fetch(blobUrl, { signal: AbortSignal.timeout(30_000) })
    let completed = false
    if (res.status === 200) completed = await res.arrayBuffer().then(() => true, () => false)
    else expect((await res.json()) as unknown).toMatchObject({ errors: [{ code: 'UNKNOWN' }] })
    expect(completed, 'the client must never get a complete-looking body that failed verification').toBe(false)
    const head = await fetch(blobUrl, { method: 'HEAD' })
    expect(head.status).toBe(502)
    expect(liar.count(`/v2/lies/app/blobs/${liar.layerDigest}`)).toBe(2)

    // A manifest by digest whose bytes hash to something else.
    const byDigest = await fetch(`${edge.url}/v2/liar/app/manifests/${liar.forgedManifestDigest}`)
    expect(byDigest.status).toBe(502)
    expect(((await byDigest.json()) as { errors: { code: string; message: string }[] }).errors[0]?.message).toMatch(/sha256|digest/i)
    expect(await artifactCount('liar')).toBe(afterTag)
  })

  it('serves a cached tag stale when its upstream token has expired and the token service is down too', async () => {
    const first = await fetch(`${edge.url}/v2/short/ns/app/manifests/v1`)
    expect(first.status).toBe(200)
    expect(first.headers.get('docker-content-digest')).toBe(tokened.manifestDigest)
    await first.arrayBuffer()
    expect(tokened.count('/auth')).toBe(1)
    // The 1 s token is gone; then the whole upstream goes down.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    tokened.setDown(true)
    const stale = await fetch(`${edge.url}/v2/short/ns/app/manifests/v1`)
    expect(stale.status).toBe(200)
    expect(stale.headers.get('x-ak-cache')).toBe('STALE')
    expect(stale.headers.get('docker-content-digest')).toBe(tokened.manifestDigest)
    await stale.arrayBuffer()
    tokened.setDown(false)
    // Up again: a fresh token, and the tag fetched anew with it (this registry sends no ETag).
    const fresh = await fetch(`${edge.url}/v2/short/ns/app/manifests/v1`)
    expect(fresh.headers.get('x-ak-cache')).toBe('MISS')
    await fresh.arrayBuffer()
    // One token at first, one asked for (and refused with 503) while down, one now.
    expect(tokened.count('/auth')).toBe(3)
  })

  it('with the upstream stopped, the cached tag is served stale with a Warning, and skopeo still copies it', async () => {
    await upstream.stop()
    const res = await fetch(`${edge.url}/v2/hub/team/app/manifests/v1`, { headers: { accept: OCI_MANIFEST } })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ak-cache')).toBe('STALE')
    expect(res.headers.get('warning')).toBe('110 - "Response is Stale"')
    expect(res.headers.get('docker-content-digest')).toBe(app.digest)
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(app.digest)

    const out = join(work, 'offline')
    const pulled = await pullFromEdge('hub/team/app:v1', `oci:${out}:v1`)
    expect(pulled.code, pulled.stderr).toBe(0)
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }
    expect(index.manifests[0]?.digest).toBe(app.digest)

    const tags = await fetch(`${edge.url}/v2/hub/team/app/tags/list`)
    expect(tags.status).toBe(200)
    expect(tags.headers.get('x-ak-cache')).toBe('STALE')
    expect(((await tags.json()) as { tags: string[] }).tags).toEqual(['v1'])
    // Never fetched: a clear upstream error, not "unknown".
    const never = await fetch(`${edge.url}/v2/hub/team/app/manifests/never`)
    expect(never.status).toBe(502)
    await never.arrayBuffer()
  })
})
