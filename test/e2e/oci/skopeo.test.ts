// The OCI format driven by the real client: skopeo copies OCI layouts built here into a node and
// back out, inspects, lists tags, copies a multi-arch index and a Helm chart as an OCI artifact.
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { ADMIN_PASSWORD, startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'
import { HELM_CONFIG, HELM_LAYER, Layout, OCI_INDEX, OCI_MANIFEST, run, sha256 } from './oci-layout.ts'

const hasSkopeo = requireClient('skopeo', 'apt-get install -y skopeo')

describe.skipIf(!hasSkopeo)('OCI format with skopeo', () => {
  let node: NodeProcess
  let host: string
  let work: string
  let env: Record<string, string>

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return res
  }

  const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args], env, 120_000)
  const adminCreds = `admin:${ADMIN_PASSWORD}`
  const push = (src: string, dest: string, ...extra: string[]) =>
    skopeo('copy', ...extra, '--dest-tls-verify=false', '--dest-creds', adminCreds, src, `docker://${host}/${dest}`)
  const pull = (src: string, dest: string, ...extra: string[]) =>
    skopeo('copy', ...extra, '--src-tls-verify=false', '--src-creds', adminCreds, `docker://${host}/${src}`, dest)
  const inspectRaw = (ref: string, creds: string[] = ['--creds', adminCreds]) =>
    skopeo('inspect', '--raw', '--tls-verify=false', ...creds, `docker://${host}/${ref}`)
  const indexOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }

  beforeAll(async () => {
    node = await startNodeProcess()
    host = new URL(node.url).host
    work = tempDir('ak-oci-skopeo-')
    const home = join(work, 'home')
    mkdirSync(home)
    // A private HOME and runtime dir: skopeo's auth.json and caches stay inside the test.
    env = { HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: join(home, '.config'), REGISTRY_AUTH_FILE: join(home, 'auth.json') }
    await api('POST', '/api/v1/repositories', { key: 'images', format: 'oci', type: 'local' })
    await api('POST', '/api/v1/repositories', { key: 'base', format: 'oci', type: 'local' })
    await api('POST', '/api/v1/repositories', { key: 'pub', format: 'oci', type: 'local', public: true })
    await api('POST', '/api/v1/repositories', { key: 'frozen', format: 'oci', type: 'local', settings: { immutable: true } })
    await api('POST', '/api/v1/repositories', {
      key: 'all',
      format: 'oci',
      type: 'virtual',
      settings: { members: ['images', 'base'], defaultDeployRepo: 'images' },
    })
  })

  afterAll(async () => {
    await node?.stop()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('copies an image in and back out with identical digests, and inspect --raw returns the pushed manifest', async () => {
    const src = new Layout(join(work, 'src1'))
    const image = await src.addImage({ 'hello.txt': 'hello from layer one\n' })
    src.tag(image, 'v1')
    const pushed = await push(`oci:${src.dir}:v1`, 'images/team/app:v1')
    expect(pushed.code, pushed.stderr).toBe(0)

    const raw = await inspectRaw('images/team/app:v1')
    expect(raw.code, raw.stderr).toBe(0)
    expect(sha256(raw.stdout)).toBe(image.digest)

    const out = join(work, 'out1')
    const pulled = await pull('images/team/app:v1', `oci:${out}:v1`)
    expect(pulled.code, pulled.stderr).toBe(0)
    const copied = indexOf(out).manifests[0]
    expect(copied?.digest).toBe(image.digest)
    const manifest = JSON.parse(src.readBlob(image.digest).toString()) as { layers: { digest: string }[]; config: { digest: string } }
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      expect(sha256(readFileSync(join(out, 'blobs', 'sha256', d.slice(7))))).toBe(d)
    }
  })

  it('lists tags; a tag moves to new content while the old digest stays pullable', async () => {
    const src = new Layout(join(work, 'src2'))
    const first = await src.addImage({ 'v.txt': 'first\n' })
    const second = await src.addImage({ 'v.txt': 'second\n' })
    src.tag(first, 'one')
    src.tag(second, 'two')
    for (const [from, to] of [['one', 'stable'], ['one', '1.0'], ['two', '2.0']]) {
      const r = await push(`oci:${src.dir}:${from}`, `images/mover:${to}`)
      expect(r.code, r.stderr).toBe(0)
    }
    const tags = await skopeo('list-tags', '--tls-verify=false', '--creds', adminCreds, `docker://${host}/images/mover`)
    expect(tags.code, tags.stderr).toBe(0)
    expect(JSON.parse(tags.stdout)).toEqual({ Repository: `${host}/images/mover`, Tags: ['1.0', '2.0', 'stable'] })

    // Move 'stable' to the second image.
    const moved = await push(`oci:${src.dir}:two`, 'images/mover:stable')
    expect(moved.code, moved.stderr).toBe(0)
    expect(sha256((await inspectRaw('images/mover:stable')).stdout)).toBe(second.digest)
    // The first image is still there by digest: digests are immutable.
    const old = await inspectRaw(`images/mover@${first.digest}`)
    expect(old.code, old.stderr).toBe(0)
    expect(sha256(old.stdout)).toBe(first.digest)
  })

  it('refuses to move a tag in a repository with settings.immutable', async () => {
    const src = new Layout(join(work, 'src-frozen'))
    const a = await src.addImage({ 'f.txt': 'a\n' })
    const b = await src.addImage({ 'f.txt': 'b\n' })
    src.tag(a, 'a')
    src.tag(b, 'b')
    expect((await push(`oci:${src.dir}:a`, 'frozen/app:1.0')).code).toBe(0)
    // Same content again is fine.
    expect((await push(`oci:${src.dir}:a`, 'frozen/app:1.0')).code).toBe(0)
    const refused = await push(`oci:${src.dir}:b`, 'frozen/app:1.0')
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/denied|immutable/i)
    expect(sha256((await inspectRaw('frozen/app:1.0')).stdout)).toBe(a.digest)
  })

  it('converts to Docker schema 2 on push (--format v2s2) and serves the Docker media types', async () => {
    const src = new Layout(join(work, 'src-docker'))
    const image = await src.addImage({ 'd.txt': 'docker format\n' })
    src.tag(image, 'v1')
    const pushed = await push(`oci:${src.dir}:v1`, 'images/dockerfmt:v1', '--format', 'v2s2')
    expect(pushed.code, pushed.stderr).toBe(0)
    const raw = await inspectRaw('images/dockerfmt:v1')
    expect(raw.code, raw.stderr).toBe(0)
    const manifest = JSON.parse(raw.stdout) as { mediaType: string; config: { mediaType: string } }
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json')
    expect(manifest.config.mediaType).toBe('application/vnd.docker.container.image.v1+json')
    const inspected = await skopeo('inspect', '--tls-verify=false', '--creds', adminCreds, `docker://${host}/images/dockerfmt:v1`)
    expect(inspected.code, inspected.stderr).toBe(0)
    expect(JSON.parse(inspected.stdout)).toMatchObject({ Architecture: 'amd64', Os: 'linux', Digest: sha256(raw.stdout) })
  })

  it('copies a multi-arch image index with --all and back', async () => {
    const src = new Layout(join(work, 'src-multi'))
    const amd = await src.addImage({ 'arch.txt': 'amd64\n' }, { arch: 'amd64' })
    const arm = await src.addImage({ 'arch.txt': 'arm64\n' }, { arch: 'arm64' })
    const index = src.addIndex([amd, arm])
    src.tag(index, 'multi')
    const pushed = await push(`oci:${src.dir}:multi`, 'images/multi:latest', '--all')
    expect(pushed.code, pushed.stderr).toBe(0)

    const raw = await inspectRaw('images/multi:latest')
    expect(raw.code, raw.stderr).toBe(0)
    expect(sha256(raw.stdout)).toBe(index.digest)
    expect(JSON.parse(raw.stdout).mediaType).toBe(OCI_INDEX)
    const child = await inspectRaw(`images/multi@${arm.digest}`)
    expect(JSON.parse(child.stdout).mediaType).toBe(OCI_MANIFEST)

    const out = join(work, 'out-multi')
    const pulled = await pull('images/multi:latest', `oci:${out}:multi`, '--all')
    expect(pulled.code, pulled.stderr).toBe(0)
    expect(indexOf(out).manifests[0]?.digest).toBe(index.digest)
    for (const d of [amd.digest, arm.digest]) {
      expect(sha256(readFileSync(join(out, 'blobs', 'sha256', d.slice(7))))).toBe(d)
    }
  })

  it('pushes and pulls a Helm chart as an OCI artifact', async () => {
    const src = new Layout(join(work, 'src-helm'))
    const chart = await src.addImage(
      { 'mychart/Chart.yaml': 'apiVersion: v2\nname: mychart\nversion: 0.1.0\n', 'mychart/values.yaml': 'replicas: 1\n' },
      {
        configMediaType: HELM_CONFIG,
        layerMediaType: HELM_LAYER,
        config: { apiVersion: 'v2', name: 'mychart', version: '0.1.0' },
      },
    )
    src.tag(chart, '0.1.0')
    const pushed = await push(`oci:${src.dir}:0.1.0`, 'images/charts/mychart:0.1.0')
    expect(pushed.code, pushed.stderr).toBe(0)
    const raw = await inspectRaw('images/charts/mychart:0.1.0')
    expect(sha256(raw.stdout)).toBe(chart.digest)
    expect(JSON.parse(raw.stdout).config.mediaType).toBe(HELM_CONFIG)

    const out = join(work, 'out-helm')
    const pulled = await pull('images/charts/mychart:0.1.0', `oci:${out}:0.1.0`)
    expect(pulled.code, pulled.stderr).toBe(0)
    expect(indexOf(out).manifests[0]?.digest).toBe(chart.digest)
  })

  it('pulls anonymously from a public repository through the token flow, and refuses a private one', async () => {
    const src = new Layout(join(work, 'src-pub'))
    const image = await src.addImage({ 'p.txt': 'public\n' })
    src.tag(image, 'v1')
    expect((await push(`oci:${src.dir}:v1`, 'pub/hello:v1')).code).toBe(0)

    const anon = await inspectRaw('pub/hello:v1', ['--no-creds'])
    expect(anon.code, anon.stderr).toBe(0)
    expect(sha256(anon.stdout)).toBe(image.digest)

    const denied = await inspectRaw('images/team/app:v1', ['--no-creds'])
    expect(denied.code).not.toBe(0)
    expect(denied.stderr).toMatch(/unauthorized|authentication required/i)

    const wrong = await inspectRaw('images/team/app:v1', ['--creds', 'admin:not-the-password'])
    expect(wrong.code).not.toBe(0)
    expect(wrong.stderr).toMatch(/unauthorized|invalid credentials/i)
  })

  it('reads through a virtual repository and publishes to its default deploy repository', async () => {
    const src = new Layout(join(work, 'src-virtual'))
    const baseImage = await src.addImage({ 'b.txt': 'base image\n' })
    const appImage = await src.addImage({ 'b.txt': 'app image\n' })
    src.tag(baseImage, 'base')
    src.tag(appImage, 'app')
    expect((await push(`oci:${src.dir}:base`, 'base/os:1')).code).toBe(0)

    // Pull through the virtual repository finds the member's image.
    const through = await inspectRaw('all/os:1')
    expect(through.code, through.stderr).toBe(0)
    expect(sha256(through.stdout)).toBe(baseImage.digest)

    // Push through the virtual repository lands in 'images'.
    const pushed = await push(`oci:${src.dir}:app`, 'all/svc:2')
    expect(pushed.code, pushed.stderr).toBe(0)
    expect(sha256((await inspectRaw('images/svc:2')).stdout)).toBe(appImage.digest)
    expect((await inspectRaw('base/svc:2')).code).not.toBe(0)

    const tags = await skopeo('list-tags', '--tls-verify=false', '--creds', adminCreds, `docker://${host}/all/svc`)
    expect(JSON.parse(tags.stdout).Tags).toEqual(['2'])
  })
})
