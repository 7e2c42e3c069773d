import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import type { NodeProcess } from '../helpers/node-process.ts'
import { createPeerSourceFactory } from '../../mesh/index.ts'
import type { ChunkSource } from '../../scheduler/index.ts'
import { fetchAll, manifestOf, meshKeyOf, sha256, startPeer, type TestPeer } from './chunks-helpers.ts'
import { api, connectedTo, meshStatus, newMeshKey, startMeshNode, waitFor } from './mesh-helpers.ts'

/*
 * Transport measurement, not a timed test: run on demand with
 *   AK_CHUNK_SPEED=1 npx vitest run test/mesh/chunks-speed.test.ts
 * (AK_CHUNK_SPEED_MIB sets the blob size, default 64). It prints MiB/s of fetching one blob chunk
 * by chunk with 8 requests in flight over libp2p and over the HTTP chunk routes, against a plain
 * HTTP GET of the same blob from the same node process, and the latency of one small request.
 * Asserts only that every fetched blob is intact.
 */
const enabled = process.env.AK_CHUNK_SPEED === '1'
const MIB = 1024 * 1024
const SIZE = Number(process.env.AK_CHUNK_SPEED_MIB ?? 64) * MIB
const DEPTH = 8
const ROUNDS = 3

/** CPU time (user + system, ms) a process has used so far, from /proc (clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

describe.skipIf(!enabled)('chunk transport speed (loopback, one node process serving)', () => {
  let node: NodeProcess
  let me: TestPeer
  let bytes: Buffer
  let peerId: string

  beforeAll(async () => {
    const key = await newMeshKey()
    node = await startMeshNode({ AK_MESH_KEY: key })
    const s = await meshStatus(node)
    peerId = s.peerId
    bytes = randomBytes(SIZE)
    await api(node, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'files', format: 'generic' }) })
    const put = await fetch(`${node.url}/generic/files/big.bin`, {
      method: 'PUT',
      body: bytes,
      headers: { authorization: node.adminAuth, 'content-type': 'application/octet-stream' },
    })
    expect(put.status).toBeLessThan(300)
    me = await startPeer(key, { bootstrap: [s.addresses[0] as string] })
    await waitFor('connected', async () => connectedTo(await meshStatus(node), me.identity.peerId), 15_000)
  }, 180_000)
  afterAll(async () => {
    await me?.stop()
    await node?.stop()
  })

  it('measures MiB/s: libp2p chunks, HTTP chunks, plain HTTP GET', async () => {
    const manifest = manifestOf(bytes)
    const sources = await createPeerSourceFactory(me.host, me.identity, meshKeyOf(me)).sourcesFor(peerId, AbortSignal.timeout(10_000))
    const results: Record<string, number[]> = {}
    /** CPU ms per MiB moved, [requester, server], summed over the rounds. */
    const cpu: Record<string, [number, number]> = {}
    let cpu0 = { me: 0, node: 0 }
    const startCpu = () => {
      const u = process.cpuUsage()
      cpu0 = { me: (u.user + u.system) / 1000, node: processCpuMs(node.pid) }
    }
    const record = (name: string, ms: number) => {
      const u = process.cpuUsage()
      const c = (cpu[name] ??= [0, 0])
      c[0] += ((u.user + u.system) / 1000 - cpu0.me) / (SIZE / MIB) / ROUNDS
      c[1] += (processCpuMs(node.pid) - cpu0.node) / (SIZE / MIB) / ROUNDS
      ;(results[name] ??= []).push(SIZE / MIB / (ms / 1000))
    }
    const viaSource = async (source: ChunkSource) => {
      startCpu()
      const t0 = performance.now()
      const got = await fetchAll(manifest, (i) => source.fetchChunk(manifest.sha256, i, AbortSignal.timeout(30_000)), DEPTH)
      const ms = performance.now() - t0
      expect(sha256(got)).toBe(manifest.sha256)
      record(`${source.kind} chunks, ${DEPTH} in flight`, ms)
    }
    const plainGet = async () => {
      startCpu()
      const t0 = performance.now()
      const res = await request(`${node.url}/generic/files/big.bin`, { headers: { authorization: node.adminAuth } })
      const hash = createHash('sha256')
      for await (const part of res.body as AsyncIterable<Buffer>) hash.update(part)
      const ms = performance.now() - t0
      expect(hash.digest('hex')).toBe(manifest.sha256)
      record('plain HTTP GET', ms)
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of sources) await viaSource(s)
      await plainGet()
    }
    // Latency of one small request (stream setup + round trip for libp2p, keep-alive request for HTTP).
    const latency: Record<string, number> = {}
    for (const s of sources) {
      const n = 200
      const t0 = performance.now()
      for (let i = 0; i < n; i++) await s.have(manifest.sha256, AbortSignal.timeout(5000))
      latency[s.kind] = (performance.now() - t0) / n
    }
    const lines = Object.entries(results).map(([k, v]) => {
      const sorted = [...v].sort((x, y) => x - y)
      const c = cpu[k] ?? [0, 0]
      return `  ${k.padEnd(28)} median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(0)} MiB/s  (runs: ${v.map((x) => x.toFixed(0)).join(', ')}); CPU ms/MiB requester ${c[0].toFixed(2)}, server ${c[1].toFixed(2)}`
    })
    const lat = Object.entries(latency).map(([k, v]) => `  have() round trip, ${k.padEnd(7)} ${v.toFixed(2)} ms`)
    console.log(`chunk transport speed, ${SIZE / MIB} MiB blob, loopback:\n${lines.join('\n')}\n${lat.join('\n')}`)
  }, 600_000)
})
