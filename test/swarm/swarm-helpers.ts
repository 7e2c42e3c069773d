/*
 * Helpers of the swarm acceptance tests (issue #5): clusters of real `ak serve` processes with the
 * mesh on, blobs written to disk and streamed (never held whole in memory), lazily replicated
 * generic artifacts downloaded through a node's swarm scheduler, and what the nodes report about
 * it (GET /api/v1/transfers, /metrics, ak fsck).
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, rmSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'
import { request } from 'undici'
import type { Transfer } from '../../scheduler/index.ts'
import { runAk, tempDir, type NodeProcess } from '../helpers/node-process.ts'
import { api, connectedTo, meshStatus, newMeshKey, startMeshNode, waitFor } from '../../test/mesh/mesh-helpers.ts'

export const MiB = 1024 * 1024

export interface SwarmNode {
  node: NodeProcess
  peerId: string
  address: string
}

export interface Cluster {
  key: string
  nodes: SwarmNode[]
  stop(): Promise<void>
}

/**
 * Starts `count` mesh nodes, each bootstrapped to every one started before it, and waits until
 * every pair is connected. `env(i)` adds settings per node (AK_FAULT_CORRUPT_CHUNKS, rate limits…).
 */
export async function startCluster(count: number, env: (i: number) => Record<string, string> = () => ({})): Promise<Cluster> {
  const key = await newMeshKey()
  const nodes: SwarmNode[] = []
  const cluster: Cluster = {
    key,
    nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.node.stop()))
    },
  }
  try {
    for (let i = 0; i < count; i++) nodes.push(await startSwarmNode(key, nodes, env(i)))
    await waitFullMesh(nodes)
  } catch (err) {
    await cluster.stop()
    throw err
  }
  return cluster
}

/** One mesh node bootstrapped to `peers` (and optionally on an existing data dir, for restarts). */
export async function startSwarmNode(key: string, peers: SwarmNode[], env: Record<string, string> = {}, dataDir?: string): Promise<SwarmNode> {
  const bootstrap = peers.filter((p) => p.node.child.exitCode === null && p.node.child.signalCode === null).map((p) => p.address)
  const node = await startMeshNode(
    {
      AK_MESH_KEY: key,
      ...(bootstrap.length > 0 ? { AK_MESH_BOOTSTRAP: bootstrap.join(',') } : {}),
      ...env,
    },
    dataDir,
  )
  const status = await meshStatus(node)
  return { node, peerId: status.peerId, address: status.addresses[0] as string }
}

export async function waitFullMesh(nodes: SwarmNode[], timeoutMs = 20_000): Promise<void> {
  await waitFor(
    'every node connected to every other',
    async () => {
      for (const n of nodes) {
        const s = await meshStatus(n.node)
        if (!nodes.every((o) => o === n || connectedTo(s, o.peerId))) return false
      }
      return true
    },
    timeoutMs,
    200,
  )
}

/** Node `i` of the cluster (throws past the end). */
export function at(cluster: Cluster, i: number): SwarmNode {
  const n = cluster.nodes[i]
  if (!n) throw new Error(`the cluster has no node ${i}`)
  return n
}

/** Waits until `node` has the repository (auto-created from a replicated event). */
export async function waitRepo(node: NodeProcess, key: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(`repository ${key} on ${node.url}`, async () => (await api(node, `/api/v1/repositories/${key}`)).status === 200, timeoutMs, 100)
}

/** A generic repository, lazily replicated: nodes learn its artifacts but fetch bytes on first request. */
export async function createLazyRepo(node: NodeProcess, key: string): Promise<void> {
  const r = await api(node, '/api/v1/repositories', {
    method: 'POST',
    body: JSON.stringify({ key, format: 'generic', replication: { mode: 'lazy' } }),
  })
  if (r.status >= 300) throw new Error(`creating ${key} answered ${r.status}: ${JSON.stringify(r.body)}`)
}

export interface BlobFile {
  path: string
  size: number
  sha256: string
  remove(): void
}

/** A random file of `size` bytes on disk (written and hashed 1 MiB at a time). */
export async function makeBlobFile(size: number): Promise<BlobFile> {
  const dir = tempDir('ak-swarm-blob-')
  const path = join(dir, 'blob.bin')
  const out = createWriteStream(path)
  const hash = createHash('sha256')
  for (let at = 0; at < size; at += MiB) {
    const part = randomBytes(Math.min(MiB, size - at))
    hash.update(part)
    if (!out.write(part)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
  return { path, size, sha256: hash.digest('hex'), remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** PUT the file as a generic artifact, streamed from disk. */
export async function publishFile(node: NodeProcess, repo: string, artifactPath: string, file: BlobFile): Promise<void> {
  const res = await request(`${node.url}/generic/${repo}/${artifactPath}`, {
    method: 'PUT',
    body: createReadStream(file.path, { highWaterMark: MiB }),
    headers: { authorization: node.adminAuth, 'content-type': 'application/octet-stream', 'content-length': String(file.size) },
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  })
  const text = await res.body.text()
  if (res.statusCode >= 300) throw new Error(`PUT ${artifactPath} answered ${res.statusCode}: ${text}`)
}

/** Waits until `node` knows the artifact (its metadata replicated: HEAD answers from the blob row). */
export async function waitKnown(node: NodeProcess, repo: string, artifactPath: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    `${repo}/${artifactPath} replicated to ${node.url}`,
    async () => (await fetch(`${node.url}/generic/${repo}/${artifactPath}`, { method: 'HEAD', headers: { authorization: node.adminAuth } })).status === 200,
    timeoutMs,
    100,
  )
}

/** Waits until `node` sees every one of `peerIds` as a holder of `sha256` (GET /api/v1/mesh/providers). */
export async function waitHolders(node: NodeProcess, sha256: string, peerIds: string[], timeoutMs = 20_000): Promise<void> {
  await waitFor(
    `${peerIds.length} holders of ${sha256.slice(0, 12)} seen by ${node.url}`,
    async () => {
      // Connected holders whose current have-summary says so: what a download's directory offers
      // first and at once (a DHT record alone may need a dial or a lookup the download outruns).
      const r = await api<{ holders: { peerId: string; connected?: boolean; via?: string[]; stale?: boolean }[] }>(node, `/api/v1/mesh/providers/${sha256}`)
      const seen = new Set((r.body.holders ?? []).filter((h) => h.connected && h.via?.includes('summary') && !h.stale).map((h) => h.peerId))
      return peerIds.every((p) => seen.has(p))
    },
    timeoutMs,
    200,
  )
}

export interface Download {
  sha256: string
  bytes: number
  status: number
  /** From sending the request to the first body byte. */
  firstByteMs: number
  totalMs: number
}

/** GET the artifact from `node`, hashing the body as it streams. */
export async function download(node: NodeProcess, repo: string, artifactPath: string, options: { signal?: AbortSignal; onBytes?: (total: number) => void } = {}): Promise<Download> {
  const t0 = performance.now()
  const res = await request(`${node.url}/generic/${repo}/${artifactPath}`, {
    headers: { authorization: node.adminAuth },
    headersTimeout: 120_000,
    bodyTimeout: 60_000,
    ...(options.signal ? { signal: options.signal } : {}),
  })
  const hash = createHash('sha256')
  let bytes = 0
  let firstByteMs = -1
  for await (const part of res.body as AsyncIterable<Buffer>) {
    if (firstByteMs < 0) firstByteMs = performance.now() - t0
    hash.update(part)
    bytes += part.length
    options.onBytes?.(bytes)
  }
  return { sha256: hash.digest('hex'), bytes, status: res.statusCode, firstByteMs, totalMs: performance.now() - t0 }
}

export async function transfers(node: NodeProcess): Promise<Transfer[]> {
  const r = await api<{ transfers: Transfer[] }>(node, '/api/v1/transfers')
  if (r.status !== 200) throw new Error(`transfers answered ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body.transfers
}

/** The newest transfer of `sha256` on `node`, if any. */
export async function transferOf(node: NodeProcess, sha256: string): Promise<Transfer | undefined> {
  return (await transfers(node)).find((t) => t.sha256 === sha256)
}

/** Waits until the newest transfer of `sha256` on `node` is done (the commit follows the last byte served). */
export async function waitTransferDone(node: NodeProcess, sha256: string, timeoutMs = 30_000): Promise<Transfer> {
  return waitFor(
    `transfer of ${sha256.slice(0, 12)} done on ${node.url}`,
    async () => {
      const t = await transferOf(node, sha256)
      if (t?.state === 'failed') throw new Error(`transfer failed: ${t.error}`)
      return t?.state === 'done' ? t : undefined
    },
    timeoutMs,
    100,
  )
}

/** Verified bytes a transfer took from each peer, both transports together. */
export function bytesByPeer(t: Transfer): Map<string, number> {
  const out = new Map<string, number>()
  for (const s of t.sources) if (s.peerId) out.set(s.peerId, (out.get(s.peerId) ?? 0) + s.bytes)
  return out
}

/** Sum of a Prometheus counter on `node` over the series whose labels include `labels`. */
export async function metric(node: NodeProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line)
    if (!m || m[1] !== name) continue
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[3])
  }
  return sum
}

/** `ak fsck --json` on the node's data dir (the store is opened beside the running node; SQLite WAL allows it). */
export async function fsck(node: NodeProcess): Promise<{ problems: { kind: string; sha256: string; detail: string }[]; blobsChecked: number }> {
  const r = await runAk(['--data-dir', node.dataDir, 'fsck', '--json'], {}, 120_000)
  try {
    return JSON.parse(r.stdout)
  } catch {
    throw new Error(`ak fsck printed no report (exit ${r.code}): ${r.stderr}`)
  }
}

/** The peers' penalty/profile view as `node` reports it (GET /api/v1/mesh/peers). */
export async function meshPeers(node: NodeProcess): Promise<unknown> {
  return (await api(node, '/api/v1/mesh/peers')).body
}

export { api, waitFor }
