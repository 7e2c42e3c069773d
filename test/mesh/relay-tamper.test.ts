import { lpStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMeshHost, loadOrCreateIdentity, parseMeshKey, SYNC_PROTOCOL, type MeshHost } from '../../mesh/index.ts'
import { tempDir, type NodeProcess } from '../helpers/node-process.ts'
import { api, connectedTo, meshStatus, newMeshKey, startMeshNode, waitFor } from './mesh-helpers.ts'

interface WireEvent {
  origin: string
  seq: number
  repo: string
  kind: string
  path: string | null
  payload: string
  [k: string]: unknown
}

const enc = (m: unknown) => new TextEncoder().encode(JSON.stringify(m))
const dec = (b: { subarray(): Uint8Array }) => JSON.parse(new TextDecoder().decode(b.subarray())) as Record<string, unknown>

/** Pulls every event `peer` holds, as the sync protocol's puller does (an empty version vector). */
async function pullAll(host: MeshHost, peer: string): Promise<WireEvent[]> {
  const stream = await host.openStream(peer, SYNC_PROTOCOL, AbortSignal.timeout(10_000))
  const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
  await lp.write(enc({ type: 'pull', versionVector: {} }))
  const events: WireEvent[] = []
  for (;;) {
    const msg = dec(await lp.read({ signal: AbortSignal.timeout(10_000) }))
    if (msg.type === 'done') break
    events.push(...(msg.events as WireEvent[]))
  }
  await stream.close()
  return events
}

/**
 * A lying relay, run by the test as a real libp2p peer holding the mesh key: it takes A's signed
 * events and hands them to C, the first one as it came and every later one with a changed payload.
 */
describe('a relay that alters an event', () => {
  let a: NodeProcess
  let c: NodeProcess
  let relay: MeshHost
  let relayId: string
  let aId: string
  let served = 0

  beforeAll(async () => {
    const key = await newMeshKey()
    a = await startMeshNode({ AK_MESH_KEY: key })
    const sa = await meshStatus(a)
    aId = sa.peerId
    const r = await api(a, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'files', format: 'generic' }) })
    expect(r.status).toBeLessThan(300)
    const put = await api(a, '/generic/files/tool.sh', { method: 'PUT', body: 'echo genuine\n', headers: { 'content-type': 'application/octet-stream' } })
    expect(put.status).toBeLessThan(300)

    const identity = await loadOrCreateIdentity(tempDir('ak-relay-'))
    relayId = identity.peerId
    relay = createMeshHost({ identity, port: 0, psk: parseMeshKey(key), bootstrap: [sa.addresses[0] as string] })
    await relay.start()
    await waitFor('relay connected to A', async () => relay.connectedPeers().includes(aId), 10_000)
    const fromA = await pullAll(relay, aId)
    expect(fromA.map((e) => e.kind)).toEqual(['repo.create', 'artifact.put'])

    await relay.handle(SYNC_PROTOCOL, async (stream) => {
      const lp = lpStream(stream, { maxDataLength: 256 * 1024 })
      const req = dec(await lp.read({ signal: AbortSignal.timeout(10_000) }))
      if (req.type !== 'pull') return void (await stream.close())
      const held = (req.versionVector as Record<string, number>)[aId] ?? 0
      const out = fromA
        // First pull: only the genuine event; later pulls: the altered one.
        .filter((e) => e.seq > held && (held > 0 || e.seq === 1))
        .map((e) => (e.seq === 1 ? e : { ...e, payload: e.payload.replace(/^\{/, '{"evil":true,') }))
      served += out.length
      if (out.length > 0) await lp.write(enc({ type: 'events', events: out }))
      await lp.write(enc({ type: 'done' }))
      await stream.close()
    })
    // C knows and accepts only the relay: everything it learns of A comes through the liar.
    c = await startMeshNode({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: relay.addresses()[0] as string, AK_MESH_ALLOW: relayId })
  }, 60_000)

  afterAll(async () => {
    await Promise.all([a?.stop(), c?.stop(), relay?.stop()])
  })

  it('is detected: the untouched event is applied, the altered one rejected, and the relay cut off', async () => {
    // The genuine repo.create passes through and is applied.
    await waitFor('C applied the genuine event', async () => (await api(c, '/api/v1/repositories/files')).status === 200, 15_000)
    // The altered artifact.put fails its origin signature: rejected, counted, never applied.
    const rejected = await waitFor(
      'C rejected the altered event',
      async () => {
        const s = (await api<{ sync: { eventsRejected: number } | null }>(c, '/api/v1/replication/state')).body
        return (s.sync?.eventsRejected ?? 0) > 0 ? s.sync : undefined
      },
      15_000,
    )
    expect(rejected?.eventsRejected).toBeGreaterThan(0)
    expect(served).toBeGreaterThan(1)
    const onC = await api(c, '/generic/files/tool.sh')
    expect(onC.status).toBe(404)
    const vv = (await api<{ versionVector: Record<string, number> }>(c, '/api/v1/replication/state')).body.versionVector
    expect(vv[aId]).toBe(1)
    // A liar that keeps lying is banned: C drops the connection and refuses it.
    await waitFor('C disconnected the relay', async () => !connectedTo(await meshStatus(c), relayId), 30_000, 200)
  }, 60_000)
})
