// Format indexes and mutable pointers under replication (issue #4 parts 3 and 5): a package or
// image published on one node must show in the other node's npm packument and OCI tags list (the
// formats' own index tables, not only the artifact rows), and dist-tags / OCI tags moved on both
// sides of a partition must converge to the last write by HLC. Real node processes on loopback;
// only metadata is checked (the bytes follow through the swarm, built separately).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { createHash } from 'node:crypto'
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256, tarGz } from '../e2e/oci/oci-layout.ts'
import { api, connectedTo, meshStatus, newMeshKey, startMeshNode, waitFor } from './mesh-helpers.ts'

interface StateBody {
  hash: string
  pointers?: number
}

const state = async (n: NodeProcess) => (await api<StateBody>(n, '/api/v1/replication/state')).body

async function ok(r: Promise<{ status: number; body: unknown }>, what: string): Promise<unknown> {
  const res = await r
  expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBeLessThan(300)
  return res.body
}

/** The document `npm publish` PUTs for a one-file package `name@version`. */
async function publishDocument(name: string, version: string, tag: string, extra: Record<string, unknown>): Promise<Record<string, unknown>> {
  const tgz = await tarGz({ 'package/package.json': JSON.stringify({ name, version }), 'package/index.js': 'module.exports = 1\n' })
  const file = `${name}-${version}.tgz`
  return {
    _id: name,
    name,
    'dist-tags': { [tag]: version },
    versions: {
      [version]: {
        name,
        version,
        description: `the ${name} package`,
        ...extra,
        _id: `${name}@${version}`,
        dist: {
          integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`,
          shasum: createHash('sha1').update(tgz).digest('hex'),
          tarball: `http://example.invalid/${name}/-/${file}`,
        },
      },
    },
    _attachments: { [file]: { content_type: 'application/octet-stream', data: tgz.toString('base64'), length: tgz.length } },
  }
}

async function publishNpm(n: NodeProcess, repo: string, name: string, version: string, options: { tag?: string; deprecated?: string } = {}) {
  const doc = await publishDocument(name, version, options.tag ?? 'latest', {
    keywords: ['mesh'],
    ...(options.deprecated ? { deprecated: options.deprecated } : {}),
  })
  await ok(api(n, `/npm/${repo}/${encodeURIComponent(name)}`, { method: 'PUT', body: JSON.stringify(doc) }), `publish ${name}@${version}`)
}

/** The packument as text, with the node's own URL (in tarball links) and the _rev (a local counter) taken out. */
async function packument(n: NodeProcess, repo: string, name: string, abbreviated = false): Promise<string | undefined> {
  const r = await fetch(`${n.url}/npm/${repo}/${encodeURIComponent(name)}`, {
    headers: { authorization: n.adminAuth, ...(abbreviated ? { accept: 'application/vnd.npm.install-v1+json' } : {}) },
    signal: AbortSignal.timeout(10_000),
  })
  if (r.status !== 200) return undefined
  const doc = (await r.json()) as Record<string, unknown>
  delete doc._rev
  return JSON.stringify(doc).replaceAll(n.url, '<node>')
}

async function distTags(n: NodeProcess, repo: string, name: string): Promise<Record<string, string> | undefined> {
  const r = await api<Record<string, string>>(n, `/npm/${repo}/-/package/${encodeURIComponent(name)}/dist-tags`)
  return r.status === 200 ? r.body : undefined
}

async function setDistTag(n: NodeProcess, repo: string, name: string, tag: string, version: string) {
  await ok(
    api(n, `/npm/${repo}/-/package/${encodeURIComponent(name)}/dist-tags/${tag}`, { method: 'PUT', body: JSON.stringify(version) }),
    `dist-tag ${tag} → ${version}`,
  )
}

/** Pushes a one-layer image (config + layer + manifest) to `name` under `tag`; returns the manifest digest. */
async function pushImage(n: NodeProcess, name: string, tag: string, seed: string): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }))
  const layer = Buffer.from(`layer of ${seed}\n`)
  for (const blob of [config, layer]) {
    await ok(
      api(n, `/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, {
        method: 'POST',
        body: blob,
        headers: { 'content-type': 'application/octet-stream' },
      }),
      `blob upload to ${name}`,
    )
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
      annotations: { 'org.example.seed': seed },
    }),
  )
  await ok(
    api(n, `/v2/${name}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } }),
    `manifest push ${name}:${tag}`,
  )
  return sha256(manifest)
}

async function tagsList(n: NodeProcess, name: string): Promise<string[]> {
  const r = await api<{ tags?: string[] }>(n, `/v2/${name}/tags/list`)
  return r.status === 200 ? (r.body.tags ?? []) : []
}

/** The digest a tag resolves to (HEAD answers from metadata, without the manifest's bytes). */
async function tagDigest(n: NodeProcess, name: string, tag: string): Promise<string | null> {
  const r = await fetch(`${n.url}/v2/${name}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { authorization: n.adminAuth, accept: OCI_MANIFEST },
    signal: AbortSignal.timeout(10_000),
  })
  return r.status === 200 ? r.headers.get('docker-content-digest') : null
}

describe('format indexes and mutable pointers under replication', () => {
  let a: NodeProcess
  let b: NodeProcess
  let bEnv: Record<string, string>
  let ids: { a: string; b: string }

  const equalStates = (timeoutMs = 15_000) =>
    waitFor(
      'equal replication state hashes on A and B',
      async () => {
        const [sa, sb] = await Promise.all([state(a), state(b)])
        return sa.hash === sb.hash
      },
      timeoutMs,
    )

  /** Restarts B without the mesh: what it writes now, A learns only once B comes back. */
  const partitionB = async () => {
    await b.stop()
    b = await startNodeProcess({ dataDir: b.dataDir, env: { AK_MESH_ENABLED: 'false', AK_LOG_LEVEL: 'info' } })
  }
  const healB = async () => {
    await b.stop()
    b = await startMeshNode(bEnv, b.dataDir)
    await waitFor('B reconnected to A', async () => connectedTo(await meshStatus(b), ids.a), 15_000)
  }

  beforeAll(async () => {
    const key = await newMeshKey()
    a = await startMeshNode({ AK_MESH_KEY: key })
    const sa = await meshStatus(a)
    bEnv = { AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sa.addresses[0] as string }
    b = await startMeshNode(bEnv)
    ids = { a: sa.peerId, b: (await meshStatus(b)).peerId }
    await waitFor('B connected to A', async () => connectedTo(await meshStatus(b), ids.a), 15_000)
    await ok(api(a, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'npmjs', format: 'npm' }) }), 'create npm repo')
    await ok(
      api(a, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'images', format: 'oci', settings: { immutable: true } }) }),
      'create oci repo',
    )
    await waitFor('B has both repositories', async () => {
      const r = await api<unknown>(b, '/api/v1/repositories')
      const text = JSON.stringify(r.body)
      return text.includes('"npmjs"') && text.includes('"images"')
    })
  })
  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((n) => n.stop()))
  })

  it('an npm package published on A shows on B within 5 s, with the same packument (but _rev)', async () => {
    await publishNpm(a, 'npmjs', 'left-pad-mesh', '1.0.0')
    await publishNpm(a, 'npmjs', 'left-pad-mesh', '1.1.0-beta.1', { tag: 'beta' })
    await publishNpm(a, 'npmjs', '@mesh/scoped', '2.0.0', { deprecated: 'use something else' })
    const t0 = Date.now()
    await waitFor('B lists both versions and tags', async () => {
      const tags = await distTags(b, 'npmjs', 'left-pad-mesh')
      return tags?.latest === '1.0.0' && tags.beta === '1.1.0-beta.1'
    }, 5000, 100)
    expect(Date.now() - t0).toBeLessThan(5000)
    await waitFor('equal packuments', async () => {
      for (const name of ['left-pad-mesh', '@mesh/scoped']) {
        for (const abbreviated of [false, true]) {
          const [pa, pb] = await Promise.all([packument(a, 'npmjs', name, abbreviated), packument(b, 'npmjs', name, abbreviated)])
          if (pa === undefined || pa !== pb) return false
        }
      }
      return true
    }, 5000)
    const onB = JSON.parse((await packument(b, 'npmjs', '@mesh/scoped')) as string) as { versions: Record<string, { deprecated?: string }> }
    expect(onB.versions['2.0.0']?.deprecated).toBe('use something else')
    await equalStates()
  })

  it('deprecations, dist-tag removal and unpublish on A reach B', async () => {
    // npm deprecate: the ?write=true document with a deprecated message, PUT back.
    const doc = (await api<Record<string, unknown>>(a, '/npm/npmjs/left-pad-mesh?write=true')).body
    const versions = doc.versions as Record<string, Record<string, unknown>>
    ;(versions['1.0.0'] as Record<string, unknown>).deprecated = 'too old'
    await ok(api(a, '/npm/npmjs/left-pad-mesh', { method: 'PUT', body: JSON.stringify(doc) }), 'deprecate')
    await ok(api(a, '/npm/npmjs/-/package/left-pad-mesh/dist-tags/beta', { method: 'DELETE' }), 'dist-tag rm')
    await ok(api(a, '/npm/npmjs/@mesh%2fscoped/-rev/1', { method: 'DELETE' }), 'unpublish the whole package')
    await waitFor('B shows the deprecation, drops the tag and the package', async () => {
      const p = await packument(b, 'npmjs', 'left-pad-mesh')
      const tags = await distTags(b, 'npmjs', 'left-pad-mesh')
      return p?.includes('"deprecated":"too old"') && tags?.beta === undefined && (await packument(b, 'npmjs', '@mesh/scoped')) === undefined
    }, 5000)
    expect(await packument(b, 'npmjs', 'left-pad-mesh')).toBe(await packument(a, 'npmjs', 'left-pad-mesh'))
    await equalStates()
  })

  it('a dist-tag moved on both sides of a partition converges to the later write (by HLC) on both nodes', async () => {
    await publishNpm(a, 'npmjs', 'left-pad-mesh', '1.2.0', { tag: 'next' })
    await publishNpm(a, 'npmjs', 'left-pad-mesh', '1.3.0', { tag: 'next' })
    await waitFor('B has 1.3.0', async () => (await distTags(b, 'npmjs', 'left-pad-mesh'))?.next === '1.3.0', 5000)
    await partitionB()
    // B moves `stable` first, A later: A's write must win on B too, although B's own is the
    // last one B applies locally and A hears of B's write only after its own.
    await setDistTag(b, 'npmjs', 'left-pad-mesh', 'stable', '1.2.0')
    await new Promise((r) => setTimeout(r, 20))
    await setDistTag(a, 'npmjs', 'left-pad-mesh', 'stable', '1.3.0')
    expect((await distTags(b, 'npmjs', 'left-pad-mesh'))?.stable).toBe('1.2.0')
    await healB()
    await waitFor('both nodes agree on stable → 1.3.0', async () => {
      const [ta, tb] = await Promise.all([distTags(a, 'npmjs', 'left-pad-mesh'), distTags(b, 'npmjs', 'left-pad-mesh')])
      return ta?.stable === '1.3.0' && tb?.stable === '1.3.0'
    }, 10_000)
    await equalStates()
    expect(await packument(b, 'npmjs', 'left-pad-mesh')).toBe(await packument(a, 'npmjs', 'left-pad-mesh'))
    expect((await state(a)).pointers).toBeGreaterThan(0)
  })

  it('an OCI manifest and tag pushed on A show in B\'s tags list within 5 s', async () => {
    const digest = await pushImage(a, 'images/app', 'v1', 'first')
    const t0 = Date.now()
    await waitFor('B lists tag v1', async () => (await tagsList(b, 'images/app')).includes('v1'), 5000, 100)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(await tagDigest(b, 'images/app', 'v1')).toBe(digest)
    await equalStates()
  })

  it('an OCI tag pushed on both sides of a partition converges to the later push, even in an immutable repository', async () => {
    // Immutable paths keep the earliest write; tags are mutable paths, so the latest wins.
    await partitionB()
    const first = await pushImage(a, 'images/app', 'edge', 'from A')
    await new Promise((r) => setTimeout(r, 20))
    const later = await pushImage(b, 'images/app', 'edge', 'from B')
    expect(later).not.toBe(first)
    await healB()
    await waitFor('both nodes resolve edge to B\'s later push', async () => {
      const [da, db] = await Promise.all([tagDigest(a, 'images/app', 'edge'), tagDigest(b, 'images/app', 'edge')])
      return da === later && db === later
    }, 10_000)
    expect(await tagsList(a, 'images/app')).toEqual(['edge', 'v1'])
    expect(await tagsList(b, 'images/app')).toEqual(['edge', 'v1'])
    await equalStates()
    // A tag is no conflict: nothing is listed as one.
    const conflicts = await api<unknown[]>(a, '/api/v1/replication/conflicts')
    expect(JSON.stringify(conflicts.body)).not.toContain('_tags/edge')
  })
})
