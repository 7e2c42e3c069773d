/**
 * `npm run bench:mesh`: replication-log benchmarks of issue #4 (see bench/README.md, "Mesh").
 *
 *   catch-up     a fresh node joins a peer that holds N events (default 100,000): events applied
 *                per second and the joining node's peak RSS, against the same events applied
 *                in-process by createEventApplier (no network, no second process): the ratio says
 *                what the protocol and process boundary cost.
 *   convergence  5 nodes in two partitions ({1,2} and {3,4,5}) each write E events (default 1,000)
 *                while apart; then node 2 is restarted with both sides as bootstrap peers (the
 *                partition heals): time until all five report the same replication-state hash,
 *                against the time one fresh node needs to pull the same 2·E events from one peer.
 *
 * Environment: AK_BENCH_EVENTS (catch-up events, default 100000), AK_BENCH_SIDE_EVENTS (default 1000),
 * AK_BENCH_ONLY=catch-up (skip convergence; nothing written).
 * Writes bench/results/mesh-latest.json.
 */
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ChainVerifier, createEventSigner } from '../../mesh/index.ts'
import { createEventApplier } from '../../store/index.ts'
import { createMemoryDriver, openStore, type BlobDigests, type SignedEvent, type Store } from '../../store/index.ts'
import { loadConfig } from '../../node/index.ts'
import { REPO_ROOT, runAk, startNodeProcess, tempDir, type NodeProcess } from '../../test/helpers/node-process.ts'
import { computeDigests } from '../../test/mesh/digests.ts'

const EVENTS = Number(process.env.AK_BENCH_EVENTS ?? 100_000)
const SIDE_EVENTS = Number(process.env.AK_BENCH_SIDE_EVENTS ?? 1_000)
/** AK_BENCH_ONLY=catch-up: run the catch-up alone and print it (bench/results is left as it is). */
const ONLY = process.env.AK_BENCH_ONLY
/** AK_BENCH_TRACE=1: print the joining node's progress (ms, events held) and its sync log lines. */
const TRACE = process.env.AK_BENCH_TRACE === '1'
const MiB = 1024 * 1024
const RESULTS = join(REPO_ROOT, 'bench', 'results', 'mesh-latest.json')

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d

async function meshKey(): Promise<string> {
  const r = await runAk(['mesh', 'keygen'])
  if (r.code !== 0) throw new Error(r.stderr)
  return r.stdout.trim()
}

async function api<T>(n: NodeProcess, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${n.url}${path}`, {
    ...init,
    headers: { authorization: n.adminAuth, ...(typeof init.body === 'string' ? { 'content-type': 'application/json' } : {}), ...init.headers },
    signal: AbortSignal.timeout(60_000),
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}

const meshAddress = async (n: NodeProcess) => (await api<{ addresses: string[] }>(n, '/api/v1/mesh/status')).addresses[0] as string
const stateHash = async (n: NodeProcess) => (await api<{ hash: string }>(n, '/api/v1/replication/state')).hash

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await probe()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Writes `count` artifact puts (tiny distinct blobs, metadata only) into the data dir's log, signed by its node key. */
async function seedDataDir(dataDir: string, repo: string, count: number, prefix: string): Promise<string> {
  const { openDataDir } = await import('../../node/open.ts')
  const config = loadConfig({ env: { AK_DATA_DIR: dataDir } })
  const { store, identity } = await openDataDir(config)
  try {
    if (!store.repositories.get(repo)) {
      store.repositories.create({ key: repo, format: 'generic', type: 'local', public: true, settings: { replication: { mode: 'lazy' } } })
    }
    const seed = randomBytes(8).toString('hex')
    for (let i = 0; i < count; i += 1000) {
      store.artifacts.transaction(() => {
        for (let j = i; j < Math.min(count, i + 1000); j++) {
          const blob: BlobDigests = computeDigests(Buffer.from(`${seed} ${prefix} ${j}\n`))
          store.artifacts.put({ repo, path: `${prefix}/${Math.floor(j / 1000)}/file-${j}.txt`, blob, overwrite: false })
        }
      })
    }
    return identity.peerId
  } finally {
    store.close()
  }
}

/** The highest sequence of `origin` held in a node's database, read directly (no load on the node's HTTP side). */
function heldSeq(dataDir: string, origin: string): number {
  const db = new Database(join(dataDir, 'metadata.db'), { readonly: true, fileMustExist: true })
  try {
    return (db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM events WHERE origin = ?').get(origin) as { s: number }).s
  } finally {
    db.close()
  }
}

async function inProcessApply(sourceDir: string, origin: string): Promise<{ ms: number; verifyMs: number }> {
  const { openDataDir } = await import('../../node/open.ts')
  const { store: src } = await openDataDir(loadConfig({ env: { AK_DATA_DIR: sourceDir } }))
  const key = await generateKeyPair('Ed25519')
  const dst: Store = openStore({ dataDir: tempDir('ak-bench-apply-'), driver: createMemoryDriver(), nodeId: peerIdFromPrivateKey(key).toString(), sign: createEventSigner(key) })
  try {
    const applier = createEventApplier(dst.db, dst.log)
    let verifyMs = 0
    const chains = new ChainVerifier((o) => dst.log.head(o))
    const start = performance.now()
    let after = 0
    for (;;) {
      const batch: SignedEvent[] = src.log.sinceSigned(origin, after, 500)
      if (batch.length === 0) break
      const v0 = performance.now()
      const { accepted, error } = chains.verify(batch)
      if (error) throw error
      verifyMs += performance.now() - v0
      applier.apply(accepted)
      after = (batch[batch.length - 1] as SignedEvent).seq
    }
    return { ms: performance.now() - start, verifyMs }
  } finally {
    src.close()
    dst.close()
  }
}

async function catchUp(key: string) {
  console.log(`catch-up: seeding ${EVENTS} events…`)
  const aDir = tempDir('ak-bench-a-')
  const origin = await seedDataDir(aDir, 'bench', EVENTS, 'a')
  const total = heldSeq(aDir, origin)
  const baseline = await inProcessApply(aDir, origin)
  const env = { AK_MESH_ENABLED: 'true', AK_MESH_PORT: '0', AK_MESH_KEY: key, AK_LOG_LEVEL: TRACE ? 'debug' : 'info' }
  const a = await startNodeProcess({ dataDir: aDir, env })
  let b: NodeProcess | undefined
  try {
    const bDir = tempDir('ak-bench-b-')
    const start = performance.now()
    b = await startNodeProcess({ dataDir: bDir, env: { ...env, AK_MESH_BOOTSTRAP: await meshAddress(a) } })
    const listening = performance.now()
    let peak = 0
    const trace: [number, number][] = []
    await until('B to hold every event of A', () => {
      peak = Math.max(peak, (b as NodeProcess).rss())
      const held = heldSeq(bDir, origin)
      if (TRACE) trace.push([Math.round(performance.now() - listening), held])
      return held >= total
    }, 30 * 60_000, 100)
    if (TRACE) console.log(JSON.stringify(trace), b.output().split('\n').filter((l) => l.includes('sync')).join('\n'))
    if (process.env.AK_BENCH_PROFILE_SIGNAL) {
      process.kill(a.pid, 'SIGUSR2')
      process.kill(b.pid, 'SIGUSR2')
      console.log(`profiled: A ${a.pid} B ${b.pid}`)
      await new Promise((r) => setTimeout(r, 2000))
    }
    const done = performance.now()
    const [ha, hb] = await Promise.all([stateHash(a), stateHash(b)])
    if (ha !== hb) throw new Error(`catch-up ended with different state hashes: ${ha} vs ${hb}`)
    const ms = done - listening
    return {
      events: total,
      ms: Math.round(ms),
      startMs: Math.round(listening - start),
      eventsPerSecond: Math.round(total / (ms / 1000)),
      peakRssMiB: round(Math.max(peak, b.peakRss()) / MiB),
      baseline: {
        name: 'in-process createEventApplier over the same events (verify + apply, no network)',
        ms: Math.round(baseline.ms),
        eventsPerSecond: Math.round(total / (baseline.ms / 1000)),
        verifyShare: round(baseline.verifyMs / baseline.ms, 2),
      },
      ratio: round(baseline.ms / ms, 2),
      goalEventsPerSecond: 20_000,
    }
  } finally {
    await Promise.all([a.stop(), b?.stop()])
  }
}

async function convergence(key: string) {
  console.log(`convergence: 5 nodes, ${SIDE_EVENTS} events on each side of a partition…`)
  const env = { AK_MESH_ENABLED: 'true', AK_MESH_PORT: '0', AK_MESH_KEY: key, AK_LOG_LEVEL: 'info', AK_MESH_AUTO_CREATE: 'true' }
  const dirs = [1, 2, 3, 4, 5].map((i) => tempDir(`ak-bench-conv${i}-`))
  // The partition: each side writes while apart (side 1 on node 1, side 2 on node 3).
  await seedDataDir(dirs[0] as string, 'left', SIDE_EVENTS, 'left')
  await seedDataDir(dirs[2] as string, 'right', SIDE_EVENTS, 'right')
  const nodes: NodeProcess[] = []
  try {
    const n1 = await startNodeProcess({ dataDir: dirs[0], env })
    const n3 = await startNodeProcess({ dataDir: dirs[2], env })
    const a1 = await meshAddress(n1)
    const a3 = await meshAddress(n3)
    nodes.push(n1, n3)
    // Side 2 already converged among itself: 4 and 5 follow 3. Node 2 is the bridge, down during the partition.
    const [n4, n5] = await Promise.all([startNodeProcess({ dataDir: dirs[3], env: { ...env, AK_MESH_BOOTSTRAP: a3 } }), startNodeProcess({ dataDir: dirs[4], env: { ...env, AK_MESH_BOOTSTRAP: a3 } })])
    nodes.push(n4 as NodeProcess, n5 as NodeProcess)
    await until('side 2 converged', async () => {
      const h = await Promise.all([n3, n4, n5].map((n) => stateHash(n as NodeProcess)))
      return h.every((x) => x === h[0])
    }, 5 * 60_000, 200)
    // Heal: the bridge comes up knowing both sides.
    const t0 = performance.now()
    const n2 = await startNodeProcess({ dataDir: dirs[1], env: { ...env, AK_MESH_BOOTSTRAP: `${a1},${a3}` } })
    const t1 = performance.now()
    nodes.push(n2)
    await until('all five converged', async () => {
      const h = await Promise.all(nodes.map((n) => stateHash(n)))
      return h.every((x) => x === h[0])
    }, 10 * 60_000, 100)
    const t2 = performance.now()
    // Baseline: one fresh node pulling the same 2·E events from one peer that holds them all.
    const fresh = await startNodeProcess({ env: { ...env, AK_MESH_BOOTSTRAP: a1 } })
    const b0 = performance.now()
    nodes.push(fresh)
    const target = await stateHash(n1)
    await until('a fresh node caught up', async () => (await stateHash(fresh)) === target, 5 * 60_000, 100)
    const b1 = performance.now()
    const convergeMs = t2 - t1
    const baselineMs = b1 - b0
    return {
      nodes: 5,
      eventsPerSide: SIDE_EVENTS,
      bridgeStartMs: Math.round(t1 - t0),
      convergeMs: Math.round(convergeMs),
      baseline: { name: 'one fresh node pulling the same events from one peer', ms: Math.round(baselineMs) },
      ratio: round(convergeMs / baselineMs, 2),
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
  }
}

async function main(): Promise<void> {
  const key = await meshKey()
  const started = new Date().toISOString()
  const loadBefore = os.loadavg()
  const catchUpResult = await catchUp(key)
  console.table([{ bench: 'catch-up', ...catchUpResult, baseline: catchUpResult.baseline.eventsPerSecond }])
  if (ONLY === 'catch-up') {
    console.log(JSON.stringify({ started, loadBefore, loadAfter: os.loadavg(), catchUp: catchUpResult }, null, 2))
    return
  }
  const convergenceResult = await convergence(key)
  console.table([{ bench: 'convergence', ...convergenceResult, baseline: convergenceResult.baseline.ms }])
  const result = {
    started,
    machine: { nproc: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version, loadBefore, loadAfter: os.loadavg() },
    catchUp: catchUpResult,
    convergence: convergenceResult,
  }
  writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`)
  console.log(JSON.stringify(result, null, 2))
}

await main()
