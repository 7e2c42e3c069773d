import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { ADMIN_PASSWORD, startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'
import { startCountingProxy, type CountingProxy } from '../../formats/remote/index.ts'

const NPM_TIMEOUT = 120_000

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * The npm CLI through a remote repository: an UPSTREAM node process with a local npm repository
 * (packages published with npm), a counting proxy in front of it, and an EDGE node process whose
 * remote repository points at the upstream's repository URL through the proxy.
 */
describe('npm through a remote repository', () => {
  const hasNpm = requireClient('npm', 'apt-get install -y npm')

  let upstream: NodeProcess
  let edge: NodeProcess
  let proxy: CountingProxy
  let work: string
  let token: string

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

  const npm = (cwd: string, args: string[], cache = 'npm-cache'): Promise<Run> =>
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

  const ok = (r: Run) => {
    expect(r.code, `npm failed:\n${r.stdout}\n${r.stderr}\n${edge?.output().slice(-3000)}`).toBe(0)
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

  const api = async (node: NodeProcess, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: node.adminAuth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    return { status: res.status, json: (await res.json().catch(() => undefined)) as Record<string, unknown> }
  }

  /** .npmrc lines to publish to `registry` with the token. */
  const publishRc = (registry: string) => `registry=${registry}\n${registry.replace(/^http:/, '')}:_authToken=${token}\n`

  beforeAll(async () => {
    if (!hasNpm) return
    work = tempDir('ak-remote-npm-')
    mkdirSync(join(work, 'home'))
    upstream = await startNodeProcess()
    proxy = await startCountingProxy(upstream.url)
    edge = await startNodeProcess()
    expect((await api(upstream, 'POST', '/api/v1/repositories', { key: 'npm-local', format: 'npm' })).status).toBe(201)
    token = (await api(upstream, 'POST', '/api/v1/tokens', { name: 'remote e2e', access: 'write' })).json.token as string
    const upstreamRepo = {
      url: `${proxy.url}/npm/npm-local`,
      username: 'admin',
      password: ADMIN_PASSWORD,
    }
    // metadataTtlMs 0: every packument read revalidates, so the tests see conditional requests.
    const remote = { key: 'npm-remote', format: 'npm', type: 'remote', public: true, upstream: upstreamRepo, settings: { metadataTtlMs: 0 } }
    expect((await api(edge, 'POST', '/api/v1/repositories', remote)).status).toBe(201)
    expect((await api(edge, 'POST', '/api/v1/repositories', { key: 'npm-edge', format: 'npm', public: true })).status).toBe(201)
    const virtual = { key: 'npm-all', format: 'npm', type: 'virtual', public: true, settings: { members: ['npm-edge', 'npm-remote'], defaultDeployRepo: 'npm-edge' } }
    expect((await api(edge, 'POST', '/api/v1/repositories', virtual)).status).toBe(201)

    const upstreamRegistry = `${upstream.url}/npm/npm-local/`
    ok(await npm(project('dep', { name: 'ak-remote-dep', version: '1.0.0' }, { 'index.js': "module.exports = 'dep'\n" }, publishRc(upstreamRegistry)), ['publish']))
    ok(await npm(project('dep2', { name: 'ak-remote-dep', version: '1.1.0' }, { 'index.js': "module.exports = 'dep 1.1'\n" }, publishRc(upstreamRegistry)), ['publish']))
    ok(
      await npm(
        project('app', { name: '@akscope/remote-app', version: '2.0.0', dependencies: { 'ak-remote-dep': '^1.0.0' } }, { 'index.js': "module.exports = 'app ' + require('ak-remote-dep')\n" }, publishRc(upstreamRegistry)),
        ['publish'],
      ),
    )
    ok(await npm(project('big', { name: 'ak-remote-burst', version: '1.0.0' }, { 'data.txt': 'x'.repeat(300_000) }, publishRc(upstreamRegistry)), ['publish']))
  }, 240_000)

  afterAll(async () => {
    await edge?.stop()
    await upstream?.stop()
    await proxy?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it.skipIf(!hasNpm)('npm install of a scoped package and its dependency through the edge, tarball URLs pointing at the edge', async () => {
    const packument = await fetch(`${edge.url}/npm/npm-remote/@akscope%2fremote-app`, { headers: { accept: 'application/vnd.npm.install-v1+json' } })
    expect(packument.status).toBe(200)
    const doc = (await packument.json()) as { versions: Record<string, { dist: { tarball: string } }> }
    expect(doc.versions['2.0.0']?.dist.tarball).toBe(`${edge.url}/npm/npm-remote/@akscope/remote-app/-/remote-app-2.0.0.tgz`)

    const app = project('consumer', { name: 'consumer', version: '1.0.0', private: true, dependencies: { '@akscope/remote-app': '2.0.0' } }, {}, `registry=${edge.url}/npm/npm-remote/\n`)
    // A cache of its own: npm publish left the packed tarballs in the publishing cache.
    ok(await npm(app, ['install', '--no-package-lock'], 'install-cache'))
    expect(JSON.parse(readFileSync(join(app, 'node_modules', 'ak-remote-dep', 'package.json'), 'utf8')).version).toBe('1.1.0')
    expect(existsSync(join(app, 'node_modules', '@akscope', 'remote-app', 'index.js'))).toBe(true)
    expect(proxy.count('/ak-remote-dep/-/ak-remote-dep-1.1.0.tgz')).toBe(1)
    // The cached tarball is an artifact of the remote repository (it replicates like any other).
    const again = await fetch(`${edge.url}/npm/npm-remote/ak-remote-dep/-/ak-remote-dep-1.1.0.tgz`)
    expect(again.headers.get('x-ak-cache')).toBe('HIT')
    await again.arrayBuffer()
    expect(proxy.count('/ak-remote-dep/-/ak-remote-dep-1.1.0.tgz')).toBe(1)
  })

  it.skipIf(!hasNpm)('50 concurrent requests for the same uncached tarball make exactly one upstream request', async () => {
    const url = `${edge.url}/npm/npm-remote/ak-remote-burst/-/ak-remote-burst-1.0.0.tgz`
    const bodies = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(60_000) })
        expect(res.status).toBe(200)
        return Buffer.from(await res.arrayBuffer())
      }),
    )
    for (const b of bodies) expect(b.equals(bodies[0] as Buffer)).toBe(true)
    expect(proxy.count('/ak-remote-burst/-/ak-remote-burst-1.0.0.tgz')).toBe(1)
    expect(proxy.count('/npm-local/ak-remote-burst')).toBe(1)
  })

  it.skipIf(!hasNpm)('revalidates a packument with If-None-Match, and the upstream answers 304', async () => {
    const first = await fetch(`${edge.url}/npm/npm-remote/ak-remote-dep`)
    expect(first.status).toBe(200)
    await first.arrayBuffer()
    const second = await fetch(`${edge.url}/npm/npm-remote/ak-remote-dep`)
    expect(second.status).toBe(200)
    expect(second.headers.get('x-ak-cache')).toBe('REVALIDATED')
    await second.arrayBuffer()
    const seen = proxy.seen.filter((s) => s.url === '/npm/npm-local/ak-remote-dep')
    const last = seen[seen.length - 1]
    expect(last?.headers['if-none-match']).toMatch(/^W\/"/)
    expect(last?.status).toBe(304)
  })

  it.skipIf(!hasNpm)('remembers an upstream 404 for a while (negative cache)', async () => {
    expect((await fetch(`${edge.url}/npm/npm-remote/ak-no-such-package`)).status).toBe(404)
    expect((await fetch(`${edge.url}/npm/npm-remote/ak-no-such-package`)).status).toBe(404)
    expect(proxy.count('/npm-local/ak-no-such-package')).toBe(1)
  })

  it.skipIf(!hasNpm)('an npm virtual repository (local + remote) installs from both, and publishes to its local member', async () => {
    const edgeToken = (await api(edge, 'POST', '/api/v1/tokens', { name: 'edge', access: 'write' })).json.token as string
    const virtualRegistry = `${edge.url}/npm/npm-all/`
    const rc = `registry=${virtualRegistry}\n${virtualRegistry.replace(/^http:/, '')}:_authToken=${edgeToken}\n`
    ok(await npm(project('edge-lib', { name: 'ak-edge-lib', version: '1.0.0', dependencies: { 'ak-remote-dep': '1.0.0' } }, { 'index.js': "module.exports = 'edge ' + require('ak-remote-dep')\n" }, rc), ['publish']))
    const listed = await api(edge, 'GET', '/api/v1/repositories/npm-edge')
    expect(listed.json.artifacts).toBe(1)

    const merged = (await (await fetch(`${edge.url}/npm/npm-all/ak-remote-dep`)).json()) as { versions: Record<string, { dist: { tarball: string } }> }
    expect(Object.keys(merged.versions).sort()).toEqual(['1.0.0', '1.1.0'])
    expect(merged.versions['1.0.0']?.dist.tarball).toBe(`${edge.url}/npm/npm-all/ak-remote-dep/-/ak-remote-dep-1.0.0.tgz`)

    const app = project('virtual-consumer', { name: 'virtual-consumer', version: '1.0.0', private: true, dependencies: { 'ak-edge-lib': '1.0.0' } }, {}, `registry=${virtualRegistry}\n`)
    ok(await npm(app, ['install', '--no-package-lock'], 'virtual-cache'))
    expect(JSON.parse(readFileSync(join(app, 'node_modules', 'ak-remote-dep', 'package.json'), 'utf8')).version).toBe('1.0.0')
    expect(existsSync(join(app, 'node_modules', 'ak-edge-lib', 'index.js'))).toBe(true)
  })

  it.skipIf(!hasNpm)('with the upstream stopped, cached tarballs still install and packuments are served stale with a warning', async () => {
    await upstream.stop()
    const res = await fetch(`${edge.url}/npm/npm-remote/ak-remote-dep`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ak-cache')).toBe('STALE')
    expect(res.headers.get('warning')).toBe('110 - "Response is Stale"')
    await res.arrayBuffer()
    const app = project('offline-consumer', { name: 'offline-consumer', version: '1.0.0', private: true, dependencies: { '@akscope/remote-app': '2.0.0' } }, {}, `registry=${edge.url}/npm/npm-remote/\n`)
    ok(await npm(app, ['install', '--no-package-lock'], 'fresh-cache'))
    expect(JSON.parse(readFileSync(join(app, 'node_modules', '@akscope', 'remote-app', 'package.json'), 'utf8')).version).toBe('2.0.0')
    // Something never fetched is a clear upstream error, not a 404.
    const never = await fetch(`${edge.url}/npm/npm-remote/ak-never-fetched`)
    expect(never.status).toBe(502)
    expect(((await never.json()) as { code: string }).code).toBe('AK_UPSTREAM_UNAVAILABLE')
  })
})
