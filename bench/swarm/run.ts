/**
 * `npm run bench:swarm`: swarm benchmarks of issue #5 (see bench/README.md, "Swarm").
 *
 *   swarm      one origin + N nodes (N from AK_BENCH_SWARM_NODES, default 4,8), every node's upload
 *              capped by AK_UPLOAD_MAX_BYTES_PER_SECOND (one token bucket on all blob egress). The
 *              origin publishes an S-byte blob in an eager repository, so all N fetch it at once
 *              through their schedulers. Reported: time until the last node holds it, origin egress
 *              bytes, against (a) the same N pulls over plain HTTP GETs from the origin, and (b) the
 *              bound T* = max(S / B_origin, N·S / (B_origin + Σ B_peers)).
 *   transport  one node fetching an uncapped blob from another on loopback (a client GET of a lazily
 *              replicated artifact: chunks over libp2p and HTTP, verified, written, streamed), against
 *              a plain HTTP GET of the same blob from the holder in the same run.
 *   locality   a downloader with a near holder (loopback, uncapped) and a far one (a delaying TCP proxy
 *              in front of its libp2p and HTTP ports, and an upload cap): share of bytes taken from
 *              the near one, and time against a downloader that only knows the near one.
 *
 * Environment (bytes, bytes per second, ms):
 *   AK_BENCH_ONLY             comma list of swarm,transport,locality (default all)
 *   AK_BENCH_SWARM_BYTES      S (default 256 MiB)
 *   AK_BENCH_SWARM_NODES      N values (default 4,8)
 *   AK_BENCH_SWARM_RATE       upload cap of every node (default 16 MiB/s)
 *   AK_BENCH_TRANSPORT_BYTES  (default 1 GiB)
 *   AK_BENCH_LOCALITY_BYTES   (default 128 MiB)
 *   AK_BENCH_FAR_RATE         far source's upload cap (default 8 MiB/s)
 *   AK_BENCH_FAR_DELAY_MS     added one-way delay of the far source (default 40, so RTT +80 ms)
 * Writes bench/results/swarm-latest.json.
 */
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { REPO_ROOT } from '../../test/helpers/node-process.ts'
import {
  MiB,
  api,
  createLazyRepo,
  download,
  makeBlobFile,
  metric,
  publishFile,
  startSwarmNode,
  transferOf,
  waitFor,
  waitFullMesh,
  waitKnown,
  waitRepo,
  type BlobFile,
  type SwarmNode,
} from '../../test/swarm/swarm-helpers.ts'
import { newMeshKey } from '../../test/mesh/mesh-helpers.ts'

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const ONLY = (process.env.AK_BENCH_ONLY ?? 'swarm,transport,locality').split(',').map((s) => s.trim())
const SWARM_BYTES = env('AK_BENCH_SWARM_BYTES', 256 * MiB)
const SWARM_NODES = (process.env.AK_BENCH_SWARM_NODES ?? '4,8').split(',').map(Number)
const SWARM_RATE = env('AK_BENCH_SWARM_RATE', 16 * MiB)
const TRANSPORT_BYTES = env('AK_BENCH_TRANSPORT_BYTES', 1024 * MiB)
const LOCALITY_BYTES = env('AK_BENCH_LOCALITY_BYTES', 128 * MiB)
const FAR_RATE = env('AK_BENCH_FAR_RATE', 8 * MiB)
const FAR_DELAY = env('AK_BENCH_FAR_DELAY_MS', 40)
const RESULTS = join(REPO_ROOT, 'bench', 'results', 'swarm-latest.json')

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d
const mb = (bytes: number) => round(bytes / MiB, 1)
const log = (line: string) => process.stdout.write(`${line}\n`)

let stopping = false

async function stopAll(nodes: SwarmNode[]): Promise<void> {
  stopping = true
  await Promise.all(nodes.map((n) => n.node.stop()))
  stopping = false
}

/** A node that dies during a benchmark says why (its last output lines). */
function watch(n: SwarmNode): SwarmNode {
  n.node.child.once('exit', (code, signal) => {
    if (stopping) return
    log(`node ${n.node.url} exited (${code ?? signal}) during the benchmark; its last output:\n${n.node.output().split('\n').slice(-15).join('\n')}`)
  })
  return n
}

/** A cluster: node i bootstrapped to every node before it, with env(i). */
async function cluster(key: string, count: number, envFor: (i: number) => Record<string, string>): Promise<SwarmNode[]> {
  const nodes: SwarmNode[] = []
  try {
    for (let i = 0; i < count; i++) nodes.push(watch(await startSwarmNode(key, nodes, envFor(i))))
    await waitFullMesh(nodes, 60_000)
  } catch (err) {
    await stopAll(nodes)
    throw err
  }
  return nodes
}

// ---- swarm vs origin --------------------------------------------------------------------------

interface SwarmResult {
  n: number
  bytes: number
  uploadCap: number
  boundSeconds: number
  swarm: { seconds: number; originEgress: number; originEgressOverS: number; timeOverBound: number; failedDownloads: number; perNodeSeconds: number[]; fromOriginShare: number[]; sources: string[][] }
  http: { seconds: number; originEgress: number; originEgressOverS: number }
}

async function swarmVsOrigin(n: number, blob: BlobFile): Promise<SwarmResult> {
  const key = await newMeshKey()
  const capEnv = { AK_UPLOAD_MAX_BYTES_PER_SECOND: String(SWARM_RATE) }
  log(`swarm N=${n}: starting ${n + 1} nodes (upload cap ${mb(SWARM_RATE)} MiB/s each)`)
  const nodes = await cluster(key, n + 1, () => capEnv)
  const [origin, ...peers] = nodes as [SwarmNode, ...SwarmNode[]]
  try {
    const r = await api(origin.node, '/api/v1/repositories', {
      method: 'POST',
      body: JSON.stringify({ key: 'bench', format: 'generic', replication: { mode: 'eager' } }),
    })
    if (r.status >= 300) throw new Error(`create repo: ${r.status} ${JSON.stringify(r.body)}`)
    await Promise.all(peers.map((p) => waitRepo(p.node, 'bench', 30_000)))
    const egress0 = await metric(origin.node, 'ak_blob_egress_bytes_total')
    log(`swarm N=${n}: publishing ${mb(blob.size)} MiB on the origin; all ${n} fetch it eagerly`)
    await publishFile(origin.node, 'bench', 'blob.bin', blob)
    const t0 = Date.now()
    const finished = await Promise.all(
      peers.map((p) =>
        waitFor(
          'the blob on every node',
          async () => {
            const t = await transferOf(p.node, blob.sha256)
            // A failed download is a result too (recorded below), not a reason to wait on.
            return t?.state === 'done' || t?.state === 'failed' ? t : undefined
          },
          10 * 60_000,
          250,
        ),
      ),
    )
    const seconds = (Math.max(...finished.map((t) => t.finishedAt ?? Date.now())) - t0) / 1000
    const originEgress = (await metric(origin.node, 'ak_blob_egress_bytes_total')) - egress0
    const fromOriginShare = finished.map((t) => {
      const fromOrigin = t.sources.filter((s) => s.peerId === origin.peerId).reduce((a, s) => a + s.bytes, 0)
      return round(fromOrigin / blob.size, 3)
    })
    const failed = finished.filter((t) => t.state === 'failed')
    for (const t of failed) log(`swarm N=${n}: a download FAILED: ${t.error} (${t.chunksHave} of ${t.chunks} chunks)`)
    log(`swarm N=${n}: ${round(seconds, 1)} s, origin egress ${mb(originEgress)} MiB (${round(originEgress / blob.size)} × S)`)

    // (a) the same N pulls as plain HTTP GETs from the origin (its one upload cap shared by all).
    const egress1 = await metric(origin.node, 'ak_blob_egress_bytes_total')
    const h0 = performance.now()
    const gets = await Promise.all(peers.map(() => download(origin.node, 'bench', 'blob.bin')))
    const httpSeconds = (performance.now() - h0) / 1000
    for (const g of gets) if (g.sha256 !== blob.sha256) throw new Error('HTTP pull returned wrong bytes')
    const httpEgress = (await metric(origin.node, 'ak_blob_egress_bytes_total')) - egress1
    log(`http N=${n}: ${round(httpSeconds, 1)} s, origin egress ${mb(httpEgress)} MiB`)

    const bound = Math.max(blob.size / SWARM_RATE, (n * blob.size) / (SWARM_RATE + n * SWARM_RATE))
    return {
      n,
      bytes: blob.size,
      uploadCap: SWARM_RATE,
      boundSeconds: round(bound),
      swarm: {
        seconds: round(seconds),
        originEgress,
        originEgressOverS: round(originEgress / blob.size),
        timeOverBound: round(seconds / bound),
        failedDownloads: failed.length,
        perNodeSeconds: finished.map((t) => round(((t.finishedAt ?? 0) - t0) / 1000)),
        fromOriginShare,
        sources: finished.map((t) =>
          t.sources.map((s) => `${s.kind}:${nodes.findIndex((x) => x.peerId === s.peerId)} ${mb(s.bytes)}MiB f${s.failures} ${s.state}${s.reason ? `(${s.reason})` : ''}`),
        ),
      },
      http: { seconds: round(httpSeconds), originEgress: httpEgress, originEgressOverS: round(httpEgress / blob.size) },
    }
  } finally {
    await stopAll(nodes)
  }
}

// ---- transport --------------------------------------------------------------------------------

async function plainGet(url: string, auth: string): Promise<{ seconds: number; sha256: string; bytes: number }> {
  const t0 = performance.now()
  const res = await request(url, { headers: { authorization: auth }, bodyTimeout: 60_000, headersTimeout: 60_000 })
  const hash = createHash('sha256')
  let bytes = 0
  for await (const part of res.body as AsyncIterable<Buffer>) {
    hash.update(part)
    bytes += part.length
  }
  return { seconds: (performance.now() - t0) / 1000, sha256: hash.digest('hex'), bytes }
}

async function transport(blob: BlobFile) {
  const key = await newMeshKey()
  log(`transport: two nodes, ${mb(blob.size)} MiB, no caps`)
  const nodes = await cluster(key, 2, () => ({}))
  const [holder, fetcher] = nodes as [SwarmNode, SwarmNode]
  try {
    await createLazyRepo(holder.node, 'bench')
    await waitRepo(fetcher.node, 'bench', 30_000)
    await publishFile(holder.node, 'bench', 'big.bin', blob)
    await waitKnown(fetcher.node, 'bench', 'big.bin', 30_000)
    const url = `${holder.node.url}/generic/bench/big.bin`
    const httpBefore = await plainGet(url, holder.node.adminAuth)
    const swarm = await download(fetcher.node, 'bench', 'big.bin')
    if (swarm.sha256 !== blob.sha256) throw new Error('swarm download returned wrong bytes')
    const httpAfter = await plainGet(url, holder.node.adminAuth)
    const t = await transferOf(fetcher.node, blob.sha256)
    const byKind: Record<string, number> = {}
    for (const s of t?.sources ?? []) byKind[s.kind] = (byKind[s.kind] ?? 0) + s.bytes
    const httpMBs = [httpBefore, httpAfter].map((h) => blob.size / MiB / h.seconds)
    const swarmMBs = blob.size / MiB / (swarm.totalMs / 1000)
    const bestHttp = Math.max(...httpMBs)
    log(`transport: swarm ${round(swarmMBs, 1)} MiB/s, plain GET ${httpMBs.map((x) => round(x, 1)).join(' / ')} MiB/s → ${round(swarmMBs / bestHttp)}×`)
    return {
      bytes: blob.size,
      swarmMiBps: round(swarmMBs, 1),
      plainGetMiBps: httpMBs.map((x) => round(x, 1)),
      ratioVsBestGet: round(swarmMBs / bestHttp),
      swarmFirstByteMs: round(swarm.firstByteMs, 0),
      // The download itself (first request → committed) against the client's stream above.
      transferMiBps: t?.startedAt && t.finishedAt ? round(blob.size / MiB / ((t.finishedAt - t.startedAt) / 1000), 1) : undefined,
      bytesByTransport: byKind,
      sources: (t?.sources ?? []).map((s) => ({ kind: s.kind, bytes: s.bytes, chunks: s.chunks, failures: s.failures, MiBps: round((s.bytesPerSecond ?? 0) / MiB, 1) })),
    }
  } finally {
    await stopAll(nodes)
  }
}

// ---- locality ---------------------------------------------------------------------------------

/** A TCP proxy that delays every piece of data by `delayMs` in each direction (order kept). */
function delayingProxy(delayMs: number): { server: Server; port: () => number; target: { host: string; port: number }; close(): void } {
  const target = { host: '127.0.0.1', port: 0 }
  const sockets = new Set<Socket>()
  const relay = (from: Socket, to: Socket) => {
    from.on('data', (data: Buffer) => {
      setTimeout(() => {
        if (!to.destroyed) to.write(data)
      }, delayMs)
    })
    from.on('end', () => setTimeout(() => to.end(), delayMs))
    from.on('error', () => to.destroy())
    from.on('close', () => setTimeout(() => to.destroy(), delayMs + 1))
  }
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host)
    sockets.add(client)
    sockets.add(upstream)
    client.on('close', () => sockets.delete(client))
    upstream.on('close', () => sockets.delete(upstream))
    relay(client, upstream)
    relay(upstream, client)
  })
  server.listen(0, '127.0.0.1')
  return {
    server,
    target,
    port: () => (server.address() as { port: number }).port,
    close() {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}

async function locality(blob: BlobFile) {
  const key = await newMeshKey()
  const httpProxy = delayingProxy(FAR_DELAY)
  const p2pProxy = delayingProxy(FAR_DELAY)
  await Promise.all([httpProxy, p2pProxy].map((p) => new Promise((r) => (p.server.listening ? r(null) : p.server.once('listening', r)))))
  log(`locality: near (loopback, uncapped) + far (+${2 * FAR_DELAY} ms RTT, ${mb(FAR_RATE)} MiB/s), ${mb(blob.size)} MiB`)
  const nodes: SwarmNode[] = []
  try {
    const near = await startSwarmNode(key, [], {})
    nodes.push(near)
    const far = await startSwarmNode(key, [near], {
      AK_UPLOAD_MAX_BYTES_PER_SECOND: String(FAR_RATE),
      AK_MESH_HTTP_URL: `http://127.0.0.1:${httpProxy.port()}`,
    })
    nodes.push(far)
    httpProxy.target.port = Number(new URL(far.node.url).port)
    p2pProxy.target.port = Number(/\/tcp\/(\d+)/.exec(far.address)?.[1])
    await createLazyRepo(near.node, 'bench')
    await waitRepo(far.node, 'bench', 30_000)
    // Both hold the blob (published on each: two paths, same bytes).
    await publishFile(near.node, 'bench', 'near.bin', blob)
    await publishFile(far.node, 'bench', 'far.bin', blob)
    const farViaProxy = `/ip4/127.0.0.1/tcp/${p2pProxy.port()}/p2p/${far.peerId}`
    // The downloader reaches the far node only through the proxy (libp2p by its bootstrap address,
    // HTTP by the URL the far node advertises), and accepts only these two peers.
    const dl = await startSwarmNode(key, [], {
      AK_MESH_BOOTSTRAP: `${near.address},${farViaProxy}`,
      AK_MESH_ALLOW: `${near.peerId},${far.peerId}`,
    })
    nodes.push(dl)
    await waitFullMesh([near, dl], 30_000)
    await waitFor('downloader connected to the far node', async () => ((await api<{ connected: { peerId: string }[] }>(dl.node, '/api/v1/mesh/status')).body.connected ?? []).some((c) => c.peerId === far.peerId), 30_000, 200)
    await waitKnown(dl.node, 'bench', 'near.bin', 30_000)
    // Let the profiles measure both peers (pings) before the download plans.
    await new Promise((r) => setTimeout(r, 3000))
    const both = await download(dl.node, 'bench', 'far.bin')
    if (both.sha256 !== blob.sha256) throw new Error('locality download returned wrong bytes')
    const t = await transferOf(dl.node, blob.sha256)
    const fromNear = (t?.sources ?? []).filter((s) => s.peerId === near.peerId).reduce((a, s) => a + s.bytes, 0)
    const fromFar = (t?.sources ?? []).filter((s) => s.peerId === far.peerId).reduce((a, s) => a + s.bytes, 0)
    const peers = (await api<{ peers: { peerId: string; rttMs?: number; rtt?: unknown }[] }>(dl.node, '/api/v1/mesh/peers')).body.peers

    // The same download by a node that only knows the near holder.
    const alone = await startSwarmNode(key, [], { AK_MESH_BOOTSTRAP: near.address, AK_MESH_ALLOW: near.peerId })
    nodes.push(alone)
    await waitKnown(alone.node, 'bench', 'near.bin', 30_000)
    const nearOnly = await download(alone.node, 'bench', 'near.bin')
    if (nearOnly.sha256 !== blob.sha256) throw new Error('near-only download returned wrong bytes')
    const share = fromNear / blob.size
    log(`locality: ${round(share * 100, 1)}% from near (${mb(fromNear)} / far ${mb(fromFar)} MiB), ${round(both.totalMs / 1000)} s vs near alone ${round(nearOnly.totalMs / 1000)} s`)
    return {
      bytes: blob.size,
      farRate: FAR_RATE,
      farAddedRttMs: 2 * FAR_DELAY,
      nearShare: round(share, 3),
      fromNear,
      fromFar,
      seconds: round(both.totalMs / 1000),
      nearAloneSeconds: round(nearOnly.totalMs / 1000),
      timeRatio: round(both.totalMs / nearOnly.totalMs),
      sources: t?.sources,
      profiles: peers,
    }
  } finally {
    await stopAll(nodes)
    httpProxy.close()
    p2pProxy.close()
  }
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const loadBefore = os.loadavg()
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { nproc: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version, loadBefore },
    settings: { SWARM_BYTES, SWARM_NODES, SWARM_RATE, TRANSPORT_BYTES, LOCALITY_BYTES, FAR_RATE, FAR_DELAY },
  }
  if (ONLY.includes('swarm')) {
    const blob = await makeBlobFile(SWARM_BYTES)
    try {
      const runs: SwarmResult[] = []
      for (const n of SWARM_NODES) runs.push(await swarmVsOrigin(n, blob))
      results.swarm = runs
    } finally {
      blob.remove()
    }
  }
  if (ONLY.includes('transport')) {
    const blob = await makeBlobFile(TRANSPORT_BYTES)
    try {
      results.transport = await transport(blob)
    } finally {
      blob.remove()
    }
  }
  if (ONLY.includes('locality')) {
    const blob = await makeBlobFile(LOCALITY_BYTES)
    try {
      results.locality = await locality(blob)
    } finally {
      blob.remove()
    }
  }
  ;(results.machine as Record<string, unknown>).loadAfter = os.loadavg()
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`)
  log(JSON.stringify(results, null, 2))
  log(`written to ${RESULTS}`)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:swarm failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
