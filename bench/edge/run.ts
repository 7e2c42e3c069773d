/**
 * `npm run bench:edge`: upstream amplification of edge nodes (issue #6, bench/README.md "Edge:
 * upstream amplification").
 *
 * One UPSTREAM node (mesh off) holds a generated npm corpus (bench/formats/npm-corpus.ts) in a
 * local repository, behind a metering proxy that counts every request and response byte the edges
 * make to it ("the WAN"). Three EDGE nodes each create the same npm remote repository pointing at
 * it, and each runs the same cold `npm install` of the corpus's top layer (≥ 100 packages).
 *
 *   mesh, one after the other         the edges share a mesh (one key); each install starts once
 *                                     the previous edge's cache has replicated (time reported)
 *   independent, one after the other  the same, three fresh edges with the mesh off: the naive
 *                                     setup of three proxies, the baseline (3.0 expected)
 *   mesh, all three at once           three fresh meshed edges installing at the same moment:
 *                                     concurrent misses on different nodes may each go upstream
 *
 * Reported per scenario: upstream bytes ÷ unique bytes (each distinct document's body once), the
 * upstream requests, and each install's wall time and what it cost the upstream.
 *
 * Environment: AK_BENCH_EDGE_PACKAGES (corpus size, default 150), AK_BENCH_EDGE_CONCURRENT
 * (`0` skips the all-at-once scenario). Writes bench/results/edge-latest.json.
 */
import { mkdirSync, readdirSync, rmSync, existsSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { generateCorpus } from '../formats/npm-corpus.ts'
import { load, machine, mustRun, round, versionOf } from '../formats/measure.ts'
import { REPO_ROOT, runAk, startNodeProcess, tempDir, type NodeProcess } from '../../test/helpers/node-process.ts'
import { publishCorpus } from './publish.ts'
import { startUpstreamMeter, upstreamCost, type UpstreamCost, type UpstreamMeter } from './upstream-meter.ts'

const PACKAGES = Number(process.env.AK_BENCH_EDGE_PACKAGES ?? 150)
const CONCURRENT = process.env.AK_BENCH_EDGE_CONCURRENT !== '0'
/** The install must pull at least this many packages for the figure to count (issue #6). */
const MIN_INSTALLED = 100
const EDGES = 3
const INSTALL_TIMEOUT_MS = 10 * 60_000
const CONVERGE_TIMEOUT_MS = 120_000
const CONNECT_TIMEOUT_MS = 30_000
const UPSTREAM_REPO = 'npm-local'
const REMOTE_REPO = 'npm-edge'
const RESULTS = join(REPO_ROOT, 'bench', 'results', 'edge-latest.json')

const log = (line: string) => console.log(`[bench:edge] ${line}`)

async function api<T>(n: NodeProcess, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${n.url}${path}`, {
    ...init,
    headers: { authorization: n.adminAuth, ...(typeof init.body === 'string' ? { 'content-type': 'application/json' } : {}), ...init.headers },
    signal: AbortSignal.timeout(60_000),
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${n.url}${path}: ${res.status} ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await probe().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Bytes the node's swarm fetched from peers so far (ak_swarm_bytes_total, every source kind). */
async function swarmBytes(n: NodeProcess): Promise<number> {
  const res = await fetch(`${n.url}/metrics`, { headers: { authorization: n.adminAuth }, signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  let total = 0
  for (const m of text.matchAll(/^ak_swarm_bytes_total\{[^}]*\} (\S+)$/gm)) total += Number(m[1])
  return total
}

/** The environment of every npm call: nothing from an outer `npm run`, the user's config or a proxy. */
function npmEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^npm_/i.test(k) || /_proxy$/i.test(k)) continue
    env[k] = v
  }
  return { ...env, HOME: home, npm_config_userconfig: join(home, '.npmrc'), npm_config_update_notifier: 'false', npm_config_loglevel: 'warn' }
}

/** Packages npm put in node_modules (nested ones included). */
function countInstalled(dir: string): number {
  let n = 0
  const walk = (modules: string) => {
    if (!existsSync(modules)) return
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith('.')) continue
      if (entry.startsWith('@')) {
        for (const scoped of readdirSync(join(modules, entry))) {
          n++
          walk(join(modules, entry, scoped, 'node_modules'))
        }
        continue
      }
      n++
      walk(join(modules, entry, 'node_modules'))
    }
  }
  walk(join(dir, 'node_modules'))
  return n
}

interface InstallResult {
  edge: number
  wallS: number
  installedPackages: number
  upstream: UpstreamCost
  /** Bytes this edge's swarm took from its peers during the install. */
  peerBytes: number
  /** Time from the previous install's end until every edge held the same replicated state. */
  replicationWaitS?: number
}

interface ScenarioResult {
  name: string
  mesh: boolean
  concurrent: boolean
  upstream: UpstreamCost
  /** Upstream bytes ÷ unique bytes. */
  amplification: number
  installs: InstallResult[]
}

interface Setup {
  work: string
  home: string
  roots: Record<string, string>
  meter: UpstreamMeter
}

async function startEdges(mesh: boolean): Promise<NodeProcess[]> {
  if (!mesh) return Promise.all(Array.from({ length: EDGES }, () => startNodeProcess({ env: { AK_LOG_LEVEL: 'info' } })))
  const keygen = await runAk(['mesh', 'keygen'])
  if (keygen.code !== 0) throw new Error(`ak mesh keygen: ${keygen.stderr}`)
  const env = { AK_MESH_ENABLED: 'true', AK_MESH_PORT: '0', AK_MESH_KEY: keygen.stdout.trim(), AK_LOG_LEVEL: 'info' }
  const first = await startNodeProcess({ env })
  const status = await api<{ peerId: string; addresses: string[] }>(first, '/api/v1/mesh/status')
  const rest = await Promise.all(
    Array.from({ length: EDGES - 1 }, () => startNodeProcess({ env: { ...env, AK_MESH_BOOTSTRAP: status.addresses[0] as string } })),
  )
  const edges = [first, ...rest]
  await until(
    'every edge connected to the first',
    async () => (await api<{ connected: unknown[] }>(first, '/api/v1/mesh/status')).connected.length >= EDGES - 1,
    CONNECT_TIMEOUT_MS,
  )
  return edges
}

/** Waits until every edge reports the same replication state hash. */
async function converge(edges: NodeProcess[]): Promise<number> {
  const t0 = performance.now()
  await until(
    'equal replication state on every edge',
    async () => new Set(await Promise.all(edges.map(async (e) => (await api<{ hash: string }>(e, '/api/v1/replication/state')).hash))).size === 1,
    CONVERGE_TIMEOUT_MS,
    50,
  )
  return (performance.now() - t0) / 1000
}

async function install(setup: Setup, edge: NodeProcess, dir: string): Promise<{ wallS: number; installedPackages: number }> {
  const project = join(setup.work, dir)
  mkdirSync(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'edge-bench-app', version: '1.0.0', private: true, dependencies: setup.roots }, null, 2))
  writeFileSync(join(project, '.npmrc'), `registry=${edge.url}/npm/${REMOTE_REPO}/\n`)
  const t0 = performance.now()
  await mustRun('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', `--cache=${join(setup.work, `${dir}-cache`)}`], {
    cwd: project,
    env: npmEnv(setup.home),
    timeoutMs: INSTALL_TIMEOUT_MS,
  })
  const wallS = (performance.now() - t0) / 1000
  const installedPackages = countInstalled(project)
  rmSync(project, { recursive: true, force: true })
  rmSync(join(setup.work, `${dir}-cache`), { recursive: true, force: true })
  return { wallS, installedPackages }
}

async function scenario(setup: Setup, name: string, mesh: boolean, concurrent: boolean): Promise<ScenarioResult> {
  log(`${name}: starting ${EDGES} edges${mesh ? ' in one mesh' : ' (mesh off)'}…`)
  const edges = await startEdges(mesh)
  try {
    // Each edge creates the repository itself (the realistic rollout); same key, same upstream.
    const repo = { key: REMOTE_REPO, format: 'npm', type: 'remote', public: true, upstream: { url: `${setup.meter.url}/npm/${UPSTREAM_REPO}` } }
    // A meshed edge may have it already, replicated from a faster peer (409 AK_REPOSITORY_EXISTS): the same repository.
    await Promise.all(
      edges.map((e) =>
        api(e, '/api/v1/repositories', { method: 'POST', body: JSON.stringify(repo) }).catch((err: Error) => {
          if (!(mesh && err.message.includes('AK_REPOSITORY_EXISTS'))) throw err
        }),
      ),
    )
    if (mesh) await converge(edges)
    const from = setup.meter.requests.length
    const installs: InstallResult[] = []
    const one = async (i: number, replicationWaitS?: number): Promise<InstallResult> => {
      const edge = edges[i] as NodeProcess
      const before = setup.meter.requests.length
      const peerBefore = mesh ? await swarmBytes(edge) : 0
      const r = await install(setup, edge, `${name.replace(/\W+/g, '-')}-${i + 1}`)
      const result: InstallResult = {
        edge: i + 1,
        wallS: round(r.wallS, 2),
        installedPackages: r.installedPackages,
        // All at once, the installs overlap: their upstream costs are only reported in total.
        upstream: upstreamCost(concurrent ? [] : setup.meter.requests.slice(before)),
        peerBytes: mesh ? (await swarmBytes(edge)) - peerBefore : 0,
        ...(replicationWaitS === undefined ? {} : { replicationWaitS: round(replicationWaitS, 2) }),
      }
      log(
        `${name}: edge ${i + 1} installed ${r.installedPackages} packages in ${r.wallS.toFixed(2)} s` +
          (concurrent ? '' : `, ${result.upstream.requests} upstream requests, ${result.upstream.bytes} upstream bytes`) +
          (mesh ? `, ${result.peerBytes} bytes from peers` : '') +
          (replicationWaitS === undefined ? '' : ` (after ${replicationWaitS.toFixed(2)} s of replication)`),
      )
      return result
    }
    if (concurrent) {
      installs.push(...(await Promise.all(edges.map((_, i) => one(i)))))
    } else {
      for (let i = 0; i < edges.length; i++) {
        // Before the next edge installs, what the previous one cached has reached it (meshed only).
        const wait = mesh && i > 0 ? await converge(edges) : undefined
        installs.push(await one(i, wait))
      }
    }
    for (const r of installs) {
      if (r.installedPackages < MIN_INSTALLED) throw new Error(`edge ${r.edge} installed ${r.installedPackages} packages, fewer than ${MIN_INSTALLED}: raise AK_BENCH_EDGE_PACKAGES`)
    }
    const upstream = upstreamCost(setup.meter.requests.slice(from))
    const amplification = upstream.uniqueBytes > 0 ? upstream.bytes / upstream.uniqueBytes : NaN
    log(`${name}: upstream ${upstream.bytes} bytes in ${upstream.requests} requests, unique ${upstream.uniqueBytes} bytes: ${amplification.toFixed(2)}×`)
    return { name, mesh, concurrent, upstream, amplification: round(amplification, 3), installs }
  } finally {
    await Promise.all(edges.map((e) => e.stop()))
    for (const e of edges) rmSync(e.dataDir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  if (versionOf('npm') === 'missing') throw new Error('npm is missing: apt-get install -y npm')
  const work = tempDir('ak-bench-edge-')
  const home = join(work, 'home')
  mkdirSync(home)
  const loadBefore = load()
  const startedAt = new Date().toISOString()
  log(`generating a corpus of ${PACKAGES} packages…`)
  const corpus = generateCorpus(join(work, 'corpus'), PACKAGES)
  const upstream = await startNodeProcess()
  const meter = await startUpstreamMeter(upstream.url)
  try {
    await api(upstream, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: UPSTREAM_REPO, format: 'npm', public: true }) })
    const t0 = performance.now()
    const published = await publishCorpus(corpus, `${upstream.url}/npm/${UPSTREAM_REPO}`, upstream.adminAuth)
    log(`published ${published.versions} versions of ${corpus.names.length} packages (${published.tarballBytes} tarball bytes) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const setup: Setup = { work, home, roots: corpus.roots, meter }
    const scenarios: ScenarioResult[] = []
    scenarios.push(await scenario(setup, 'mesh, one after the other', true, false))
    scenarios.push(await scenario(setup, 'independent, one after the other', false, false))
    if (CONCURRENT) scenarios.push(await scenario(setup, 'mesh, all three at once', true, true))
    const results = {
      startedAt,
      machine: { ...machine(), loadBefore, loadAfter: load(), loadavgAfter: os.loadavg() },
      npm: versionOf('npm'),
      corpus: { packages: corpus.names.length, versions: published.versions, tarballBytes: published.tarballBytes, roots: Object.keys(corpus.roots).length },
      scenarios,
    }
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`)
    log(`results in ${RESULTS}`)
    console.log()
    console.log('| scenario | upstream requests | upstream bytes | unique bytes | upstream ÷ unique | install wall (s) per edge |')
    console.log('|---|---:|---:|---:|---:|---|')
    for (const s of scenarios) {
      console.log(`| ${s.name} | ${s.upstream.requests} | ${s.upstream.bytes} | ${s.upstream.uniqueBytes} | ${s.amplification.toFixed(2)} | ${s.installs.map((i) => i.wallS.toFixed(2)).join(' / ')} |`)
    }
  } finally {
    await meter.close()
    await upstream.stop()
    rmSync(upstream.dataDir, { recursive: true, force: true })
    rmSync(work, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
