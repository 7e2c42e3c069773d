import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { createEventSigner, createMeshHost, parseMeshKey, SYNC_PROTOCOL, type MeshHost } from '../../mesh/index.ts'
import { GENESIS_CHAIN, signingBytes } from '../../store/index.ts'
import type { NodeProcess } from '../helpers/node-process.ts'
import { api, connectedTo, meshStatus, newMeshKey, startMeshNode, waitFor } from './mesh-helpers.ts'

/*
 * Hostile peers against a real node process (issue 4, part 9): an in-process libp2p host that
 * holds the mesh key floods the node with notifications, oversized, malformed and out-of-order
 * messages. The node must reset those streams, penalise and finally disconnect the peer, stay
 * responsive on HTTP, and keep replicating with a well-behaved peer.
 */

/** /health must answer within this, flood or not (2 shared cores, other suites running). */
const HEALTH_BOUND_MS = 3000

interface Hostile {
  host: MeshHost
  peerId: string
  sign: (bytes: Uint8Array) => Uint8Array
}

async function hostileHost(key: string, bootstrap: string, serve?: (host: Hostile) => (stream: Stream) => Promise<void>): Promise<Hostile> {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  const host = createMeshHost({ identity: { privateKey, peerId }, port: 0, psk: parseMeshKey(key), bootstrap: [bootstrap] })
  const h: Hostile = { host, peerId, sign: createEventSigner(privateKey) }
  await host.start()
  if (serve) {
    const handler = serve(h)
    await host.handle(SYNC_PROTOCOL, (stream) => handler(stream))
  }
  return h
}

/** Sends one length-prefixed frame on a new sync stream; false when the node refuses the stream or the connection is gone. */
async function sendFrame(h: Hostile, target: string, frame: Uint8Array): Promise<boolean> {
  try {
    const stream = await h.host.openStream(target, SYNC_PROTOCOL, AbortSignal.timeout(3000))
    const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
    await lp.write(frame)
    await stream.close().catch(() => {})
    return true
  } catch {
    return false
  }
}
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))

/** Polls /health while `during` runs; returns the slowest answer in ms. */
async function slowestHealth(node: NodeProcess, during: Promise<unknown>): Promise<number> {
  let done = false
  void during.finally(() => (done = true))
  let slowest = 0
  while (!done) {
    const t0 = performance.now()
    const r = await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(HEALTH_BOUND_MS * 2) })
    expect(r.status).toBe(200)
    await r.text()
    slowest = Math.max(slowest, performance.now() - t0)
    await new Promise((r) => setTimeout(r, 50))
  }
  await during
  return slowest
}

describe('flood limits and hostile peers', () => {
  let key: string
  let node: NodeProcess
  let friend: NodeProcess
  let nodeId: string
  let address: string
  const hostiles: Hostile[] = []

  beforeAll(async () => {
    key = await newMeshKey()
    node = await startMeshNode({ AK_MESH_KEY: key })
    const s = await meshStatus(node)
    nodeId = s.peerId
    address = s.addresses[0] as string
    friend = await startMeshNode({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: address })
    const friendId = (await meshStatus(friend)).peerId
    await waitFor('friend connected', async () => connectedTo(await meshStatus(node), friendId))
    const r = await api(node, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'files', format: 'generic' }) })
    expect(r.status).toBe(201)
  }, 60_000)
  afterEach(async () => {
    await Promise.all(hostiles.splice(0).map((h) => h.host.stop().catch(() => {})))
  })
  afterAll(async () => {
    await Promise.all([node, friend].filter(Boolean).map((n) => n.stop()))
  })

  /** The friend still gets what is published on the node: it kept serving well-behaved peers. */
  async function friendStillSyncs(name: string): Promise<void> {
    const put = await api(node, `/generic/files/${name}`, { method: 'PUT', body: name, headers: { 'content-type': 'application/octet-stream' } })
    expect(put.status).toBeLessThan(300)
    await waitFor(`friend lists ${name}`, async () => JSON.stringify((await api(friend, '/generic/files/')).body).includes(name), 10_000)
  }

  it('a peer flooding notifications is reset, penalised and disconnected; /health stays fast; others keep syncing', async () => {
    const h = await hostileHost(key, address)
    hostiles.push(h)
    await waitFor('flooder connected', async () => connectedTo(await meshStatus(node), h.peerId))
    let sent = 0
    let refusedAt: number | undefined
    const flood = (async () => {
      // Bursts of parallel notifications, far above the per-peer rate (20/s, burst 50).
      for (let round = 0; round < 40 && refusedAt === undefined; round++) {
        const results = await Promise.all(Array.from({ length: 25 }, () => sendFrame(h, nodeId, json({ type: 'notify' }))))
        sent += results.filter(Boolean).length
        if (results.every((ok) => !ok)) refusedAt = sent
      }
    })()
    const slowest = await slowestHealth(node, flood)
    expect(slowest).toBeLessThan(HEALTH_BOUND_MS)
    // Disconnected after the ban threshold, and refused from then on.
    await waitFor('node dropped the flooder', async () => !connectedTo(await meshStatus(node), h.peerId), 10_000)
    expect(refusedAt).toBeDefined()
    expect(sent).toBeLessThan(1000)
    expect(await sendFrame(h, nodeId, json({ type: 'notify' }))).toBe(false)
    const st = await api<{ sync: { floodResets: number } }>(node, '/api/v1/replication/state')
    expect(st.body.sync.floodResets).toBeGreaterThan(0)
    await friendStillSyncs('after-notify-flood.txt')
  })

  it('oversized, malformed and out-of-order messages get the peer banned without disturbing the node', async () => {
    // As a server, the hostile peer answers the node's pulls with an event that skips sequence numbers.
    const h = await hostileHost(key, address, (self) => async (stream) => {
      const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
      await lp.read()
      const e = { origin: self.peerId, seq: 7, hlc: { ms: Date.now(), counter: 0 }, repo: 'files', kind: 'repo.update' as const, path: null, sha256: null, payload: '{}' }
      const signature = Buffer.from(self.sign(signingBytes(e, GENESIS_CHAIN))).toString('base64')
      await lp.write(json({ type: 'events', events: [{ ...e, signature }] }))
      await lp.write(json({ type: 'done' }))
      await stream.close().catch(() => {})
    })
    hostiles.push(h)
    await waitFor('hostile connected', async () => connectedTo(await meshStatus(node), h.peerId))
    const abuse = (async () => {
      const frames = [
        new Uint8Array(300 * 1024).fill(0x7b), // above the 256 KiB request limit
        new TextEncoder().encode('{"type": "pull", "versionVector": '), // not JSON
        json({ type: 'events', events: [] }), // a server message sent as a request
        json({ type: 'pull', versionVector: { 'not-base58!': 1 } }),
      ]
      for (let i = 0; i < 20; i++) if (!(await sendFrame(h, nodeId, frames[i % frames.length] as Uint8Array))) return i
      return undefined
    })()
    const slowest = await slowestHealth(node, abuse)
    expect(slowest).toBeLessThan(HEALTH_BOUND_MS)
    await waitFor('node dropped the hostile peer', async () => !connectedTo(await meshStatus(node), h.peerId), 10_000)
    expect(await abuse).toBeDefined()
    const st = await api<{ versionVector: Record<string, number>; sync: { eventsRejected: number } }>(node, '/api/v1/replication/state')
    // The out-of-order event was refused, never stored.
    expect(st.body.versionVector[h.peerId]).toBeUndefined()
    await friendStillSyncs('after-malformed.txt')
  })
})
