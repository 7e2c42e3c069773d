import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'
import { startCountingProxy, type CountingProxy } from '../../formats/remote/index.ts'
import { api, connectedTo, meshStatus, newMeshKey, startMeshNode, waitFor } from '../../mesh/mesh-helpers.ts'

const NPM_TIMEOUT = 120_000
const REPLICATION_TIMEOUT = 20_000

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

interface TransferBody {
  transfers: { sha256: string; state: string; bytesFetched: number; sources: { id: string; kind: string; peerId?: string; bytes: number }[] }[]
}

interface RepoBody {
  key: string
  type: string
  settings: { upstream?: { url?: string; password?: string } }
}

/**
 * Issue #6, "mesh first": two EDGE nodes in one mesh, each with the same npm remote repository in
 * front of one UPSTREAM node (mesh off, a local npm repository, a counting proxy in front of it).
 * Once edge 1 has served a package from the upstream, edge 2 serves it to the npm CLI with no
 * upstream request at all: its packument and tarball rows arrive by replication, their bytes from
 * edge 1 through the swarm.
 */
describe('edge nodes sharing one npm remote repository through the mesh', () => {
  const hasNpm = requireClient('npm', 'apt-get install -y npm')

  let upstream: NodeProcess
  let proxy: CountingProxy
  let edge1: NodeProcess
  let edge2: NodeProcess
  let edge1Id: string
  let edge2Id: string
  let work: string
  let token: string
  let topData: string
  let meshKey: string
  let edge1Address: string

  const env = (cache: string) => {
    const clean: Record<string, string> = {}
    for (const [k, v] of Object.entries(process.env)) {
      if (v === undefined || /^npm_/i.test(k) || /_proxy$/i.test(k)) continue
      clean[k] = v
    }
    return {
      ...clean,
      HOME: join(work, 'home'),
      npm_config_userconfig: join(work, 'home', '.npmrc'),
      npm_config_cache: join(work, cache),
      npm_config_update_notifier: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_fetch_retries: '0',
    }
  }

  const npm = (cwd: string, args: string[], cache: string): Promise<Run> =>
    new Promise((resolve) => {
      const child = spawn('npm', args, { cwd, env: env(cache), stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const timer = setTimeout(() => child.kill('SIGKILL'), NPM_TIMEOUT)
      child.once('close', (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    })

  const ok = (r: Run, node?: NodeProcess) => {
    expect(r.code, `npm failed:\n${r.stdout}\n${r.stderr}\n${node?.output().slice(-4000) ?? ''}`).toBe(0)
    return r
  }

  const project = (dir: string, manifest: Record<string, unknown>, files: Record<string, string> = {}, npmrc = '') => {
    const path = join(work, dir)
    mkdirSync(path, { recursive: true })
    writeFileSync(join(path, 'package.json'), JSON.stringify(manifest, null, 2))
    for (const [name, text] of Object.entries(files)) writeFileSync(join(path, name), text)
    if (npmrc) writeFileSync(join(path, '.npmrc'), npmrc)
    return path
  }

  const publishRc = (registry: string) => `registry=${registry}\n${registry.replace(/^http:/, '')}:_authToken=${token}\n`

  /** Requests that reached the upstream node for repository npm-local (packuments and tarballs). */
  const upstreamGets = () => proxy.seen.filter((s) => s.method === 'GET' && s.url.startsWith('/npm/npm-local/')).map((s) => s.url)

  /** An npm remote repository in front of the upstream, without credentials (its npm-local is public). */
  const remoteRepo = (key: string) => ({ key, format: 'npm', type: 'remote', public: true, upstream: { url: `${proxy.url}/npm/npm-local` } })

  /** Installs `deps` through `node`'s repository `repo` with a fresh npm cache and returns the project dir. */
  const install = async (node: NodeProcess, repo: string, dir: string, deps: Record<string, string>) => {
    const app = project(dir, { name: dir, version: '1.0.0', private: true, dependencies: deps }, {}, `registry=${node.url}/npm/${repo}/\n`)
    ok(await npm(app, ['install', '--no-package-lock'], `cache-${dir}`), node)
    return app
  }

  /** Waits until both edges hold the same repositories, artifacts and tombstones (equal replication state hashes). */
  const converged = () =>
    waitFor(
      'equal replication state on both edges',
      async () => {
        const [a, b] = await Promise.all([edge1, edge2].map((n) => api<{ hash: string }>(n, '/api/v1/replication/state')))
        return a?.status === 200 && a.body.hash === b?.body.hash
      },
      REPLICATION_TIMEOUT,
      200,
    )

  /** Bytes `node` fetched through the swarm per peer ID (from GET /api/v1/transfers). */
  const swarmBytesByPeer = async (node: NodeProcess): Promise<Map<string, number>> => {
    const r = await api<TransferBody>(node, '/api/v1/transfers')
    expect(r.status).toBe(200)
    const by = new Map<string, number>()
    for (const t of r.body.transfers) {
      // 'committing' counts too: the client has had every verified byte before the blob is committed.
      if (t.state === 'failed' || t.state === 'queued') continue
      for (const s of t.sources) if (s.bytes > 0) by.set(s.peerId ?? s.kind, (by.get(s.peerId ?? s.kind) ?? 0) + s.bytes)
    }
    return by
  }

  beforeAll(async () => {
    if (!hasNpm) return
    work = tempDir('ak-edge-mesh-')
    mkdirSync(join(work, 'home'))
    upstream = await startNodeProcess()
    proxy = await startCountingProxy(upstream.url)
    // npm-local is public: remote repositories read it without credentials (credentials never replicate).
    expect((await api(upstream, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'npm-local', format: 'npm', public: true }) })).status).toBe(201)
    token = ((await api<{ token: string }>(upstream, '/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'edge e2e', access: 'write' }) })).body).token
    const registry = `${upstream.url}/npm/npm-local/`
    // Random (incompressible) payloads, so the tarballs are a few hundred KiB and not a few hundred bytes.
    topData = randomBytes(150_000).toString('base64')
    const pub = async (dir: string, manifest: Record<string, unknown>, files: Record<string, string>) =>
      ok(await npm(project(dir, manifest, files, publishRc(registry)), ['publish'], 'publish-cache'))
    await pub('p-leaf', { name: 'ak-edge-leaf', version: '1.0.0' }, { 'index.js': "module.exports = 'leaf'\n" })
    await pub('p-mid', { name: '@edge/mid', version: '1.2.0', dependencies: { 'ak-edge-leaf': '^1.0.0' } }, { 'index.js': "module.exports = 'mid ' + require('ak-edge-leaf')\n" })
    await pub('p-top', { name: 'ak-edge-top', version: '3.0.0', dependencies: { '@edge/mid': '^1.0.0' } }, { 'index.js': "module.exports = 'top ' + require('@edge/mid')\n", 'data.txt': topData })
    await pub('p-solo', { name: 'ak-edge-solo', version: '0.1.0' }, { 'index.js': "module.exports = 'solo'\n" })
    await pub('p-burst', { name: 'ak-edge-burst', version: '1.0.0' }, { 'data.txt': randomBytes(300_000).toString('base64') })
    await pub('p-late', { name: 'ak-edge-late', version: '1.0.0' }, { 'data.txt': randomBytes(50_000).toString('base64') })

    meshKey = await newMeshKey()
    edge1 = await startMeshNode({ AK_MESH_KEY: meshKey })
    const s1 = await meshStatus(edge1)
    edge1Id = s1.peerId
    edge1Address = s1.addresses[0] as string
    // Edge 2 starts on its own (no bootstrap peer): it joins edge 1 in the first test, after both
    // created the repository.
    edge2 = await startMeshNode({ AK_MESH_KEY: meshKey })
    edge2Id = (await meshStatus(edge2)).peerId
  }, 240_000)

  afterAll(async () => {
    await Promise.all([edge1, edge2, upstream].filter(Boolean).map((n) => n.stop()))
    await proxy?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it.skipIf(!hasNpm)('both edges create the same remote repository; after edge 1 installed a package, edge 2 installs it with 0 upstream requests and bytes from edge 1', async () => {
    // Each edge creates the repository before it meets the other (the realistic rollout): two
    // origins' repo.create events for one key, which must converge when the edges connect.
    const created = await Promise.all(
      [edge1, edge2].map((n) => api(n, '/api/v1/repositories', { method: 'POST', body: JSON.stringify(remoteRepo('npm-proxy')) })),
    )
    for (const r of created) expect(r.status, JSON.stringify(r.body)).toBe(201)
    await edge2.stop()
    edge2 = await startMeshNode({ AK_MESH_KEY: meshKey, AK_MESH_BOOTSTRAP: edge1Address }, edge2.dataDir)
    expect((await meshStatus(edge2)).peerId).toBe(edge2Id)
    await waitFor('the edges connected', async () => connectedTo(await meshStatus(edge1), edge2Id) && connectedTo(await meshStatus(edge2), edge1Id), 15_000)
    await converged()

    const first = await install(edge1, 'npm-proxy', 'edge1-app', { 'ak-edge-top': '^3.0.0' })
    expect(readFileSync(join(first, 'node_modules', '@edge', 'mid', 'index.js'), 'utf8')).toContain('mid')
    const fromEdge1 = upstreamGets()
    // One packument and one tarball per package: what edge 1 took from the upstream.
    expect(fromEdge1.filter((u) => u.includes('/-/')).sort()).toEqual([
      '/npm/npm-local/@edge/mid/-/mid-1.2.0.tgz',
      '/npm/npm-local/ak-edge-leaf/-/ak-edge-leaf-1.0.0.tgz',
      '/npm/npm-local/ak-edge-top/-/ak-edge-top-3.0.0.tgz',
    ])

    await converged()

    const second = await install(edge2, 'npm-proxy', 'edge2-app', { 'ak-edge-top': '^3.0.0' })
    expect(readFileSync(join(second, 'node_modules', 'ak-edge-top', 'data.txt'), 'utf8')).toBe(topData)
    expect(existsSync(join(second, 'node_modules', 'ak-edge-leaf', 'index.js'))).toBe(true)
    expect(upstreamGets(), 'edge 2 went upstream').toEqual(fromEdge1)

    // The bytes came from edge 1 through the swarm, and from nowhere else.
    const bytes = await swarmBytesByPeer(edge2)
    expect([...bytes.keys()]).toEqual([edge1Id])
    // At least the three tarballs' bytes (packuments come the same way).
    expect(bytes.get(edge1Id)).toBeGreaterThan(150_000)
    // Edge 2's copy is a hit now, served from its own store.
    const again = await fetch(`${edge2.url}/npm/npm-proxy/ak-edge-top/-/ak-edge-top-3.0.0.tgz`)
    expect(again.status).toBe(200)
    expect(again.headers.get('x-ak-cache')).toBe('HIT')
    await again.arrayBuffer()
  })

  it.skipIf(!hasNpm)('a remote repository created on edge 1 only reaches edge 2 by replication, and edge 2 serves what edge 1 fetched with 0 upstream requests', async () => {
    expect((await api(edge1, '/api/v1/repositories', { method: 'POST', body: JSON.stringify(remoteRepo('npm-auto')) })).status).toBe(201)
    const repo = await waitFor(
      'edge 2 auto-creates npm-auto',
      async () => {
        const r = await api<RepoBody>(edge2, '/api/v1/repositories/npm-auto')
        return r.status === 200 ? r.body : undefined
      },
      REPLICATION_TIMEOUT,
      200,
    )
    expect(repo.type).toBe('remote')
    expect(repo.settings.upstream?.url).toBe(`${proxy.url}/npm/npm-local`)

    await install(edge1, 'npm-auto', 'auto-edge1', { 'ak-edge-solo': '0.1.0' })
    const afterEdge1 = upstreamGets()
    expect(afterEdge1.filter((u) => u.endsWith('/ak-edge-solo/-/ak-edge-solo-0.1.0.tgz'))).toHaveLength(1)
    await converged()
    const peerBytes = (await swarmBytesByPeer(edge2)).get(edge1Id) ?? 0

    const app = await install(edge2, 'npm-auto', 'auto-edge2', { 'ak-edge-solo': '0.1.0' })
    expect(readFileSync(join(app, 'node_modules', 'ak-edge-solo', 'index.js'), 'utf8')).toContain('solo')
    expect(upstreamGets(), 'edge 2 went upstream').toEqual(afterEdge1)
    expect((await swarmBytesByPeer(edge2)).get(edge1Id) ?? 0).toBeGreaterThan(peerBytes)

    // What no edge holds yet in npm-auto, edge 2 takes from the upstream with its replicated
    // settings alone (no credentials needed, none replicated).
    const leaf = await fetch(`${edge2.url}/npm/npm-auto/ak-edge-leaf`)
    expect(leaf.status).toBe(200)
    expect(leaf.headers.get('x-ak-cache')).toBe('MISS')
    await leaf.arrayBuffer()
    expect(upstreamGets().length).toBe(afterEdge1.length + 1)
  })

  it.skipIf(!hasNpm)('50 concurrent clients missing the same npm tarball on one edge make exactly 1 upstream request', async () => {
    const url = `${edge2.url}/npm/npm-proxy/ak-edge-burst/-/ak-edge-burst-1.0.0.tgz`
    const bodies = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(60_000) })
        expect(res.status).toBe(200)
        return Buffer.from(await res.arrayBuffer())
      }),
    )
    for (const b of bodies) expect(b.equals(bodies[0] as Buffer)).toBe(true)
    expect(bodies[0]?.length).toBeGreaterThan(300_000)
    expect(proxy.count('/npm-local/ak-edge-burst/-/ak-edge-burst-1.0.0.tgz')).toBe(1)
    expect(proxy.count('/npm-local/ak-edge-burst')).toBe(1)
  })

  // Regression: the swarm reports "no source has these bytes" as AK_STORAGE_ERROR, which the remote
  // engine did not count as missing bytes: a replicated row whose holder was gone answered 503
  // (npm retried until it gave up) instead of going to the upstream.
  it.skipIf(!hasNpm)('with edge 1 gone, edge 2 takes a tarball it knows only by replication from the upstream', async () => {
    // A package no edge has fetched before (bytes are content-addressed: any earlier copy would be a hit).
    const tarball = 'ak-edge-late/-/ak-edge-late-1.0.0.tgz'
    const onEdge1 = await fetch(`${edge1.url}/npm/npm-auto/${tarball}`)
    expect(onEdge1.status).toBe(200)
    const bytes = Buffer.from(await onEdge1.arrayBuffer())
    await converged()
    const before = proxy.count(`/npm-local/${tarball}`)
    await edge1.stop()
    const res = await fetch(`${edge2.url}/npm/npm-auto/${tarball}`, { signal: AbortSignal.timeout(90_000) })
    expect(res.status, await res.clone().text()).toBe(200)
    expect(res.headers.get('x-ak-cache')).toBe('MISS')
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
    expect(proxy.count(`/npm-local/${tarball}`)).toBe(before + 1)
  }, 120_000)
})
