import { afterEach, describe, expect, it } from 'vitest'
import type { NodeProcess } from '../helpers/node-process.ts'
import { connectedTo, meshStatus, newMeshKey, preparedIdentity, runAkMeshId, startMeshNode, waitFor } from './mesh-helpers.ts'

const nodes: NodeProcess[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})
async function start(...args: Parameters<typeof startMeshNode>): Promise<NodeProcess> {
  const n = await startMeshNode(...args)
  nodes.push(n)
  return n
}

/** Long enough for several redials with backoff: a refused peer must stay refused, not just be slow. */
const REFUSAL_WINDOW = 3000

describe('mesh membership', () => {
  it('ak mesh keygen prints a fresh pnet v1 key each time', async () => {
    const a = await newMeshKey()
    const b = await newMeshKey()
    expect(a).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    expect(a).not.toBe(b)
  })

  it('ak mesh id prints the same peer ID the running node reports', async () => {
    const { dataDir, peerId } = await preparedIdentity()
    expect(peerId).toMatch(/^12D3KooW/)
    expect(await runAkMeshId(dataDir)).toBe(peerId)
    const node = await start({ AK_MESH_KEY: await newMeshKey() }, dataDir)
    expect((await meshStatus(node)).peerId).toBe(peerId)
  })

  it('two nodes with the same mesh key connect and list each other', async () => {
    const key = await newMeshKey()
    const a = await start({ AK_MESH_KEY: key })
    const sa = await meshStatus(a)
    expect(sa.enabled).toBe(true)
    expect(sa.addresses.length).toBeGreaterThan(0)
    const b = await start({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sa.addresses[0] as string })
    const sb = await meshStatus(b)
    await waitFor('b connected to a', async () => connectedTo(await meshStatus(b), sa.peerId))
    await waitFor('a connected to b', async () => connectedTo(await meshStatus(a), sb.peerId))
  })

  it('a node with a different mesh key gets no connection', async () => {
    const a = await start({ AK_MESH_KEY: await newMeshKey() })
    const sa = await meshStatus(a)
    const intruder = await start({ AK_MESH_KEY: await newMeshKey(), AK_MESH_BOOTSTRAP: sa.addresses[0] as string })
    const si = await meshStatus(intruder)
    await new Promise((r) => setTimeout(r, REFUSAL_WINDOW))
    expect((await meshStatus(intruder)).connected).toEqual([])
    expect(connectedTo(await meshStatus(a), si.peerId)).toBe(false)
  })

  it('a node without any mesh key gets no connection to a keyed node', async () => {
    const a = await start({ AK_MESH_KEY: await newMeshKey() })
    const sa = await meshStatus(a)
    const open = await start({ AK_MESH_BOOTSTRAP: sa.addresses[0] as string })
    await new Promise((r) => setTimeout(r, REFUSAL_WINDOW))
    expect((await meshStatus(open)).connected).toEqual([])
    expect((await meshStatus(a)).connected).toEqual([])
  })

  it('a node off the allowlist gets no connection, even with the right key', async () => {
    const key = await newMeshKey()
    const friend = await preparedIdentity()
    const self = await preparedIdentity()
    // The members share one allowlist (as a deployment would): a member without one would accept
    // the stranger, whose address it may learn through the DHT.
    const allow = `${self.peerId},${friend.peerId}`
    const a = await start({ AK_MESH_KEY: key, AK_MESH_ALLOW: allow }, self.dataDir)
    const sa = await meshStatus(a)
    const stranger = await start({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sa.addresses[0] as string })
    const b = await start({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sa.addresses[0] as string, AK_MESH_ALLOW: allow }, friend.dataDir)
    await waitFor('the allowed peer connected', async () => connectedTo(await meshStatus(a), friend.peerId))
    await new Promise((r) => setTimeout(r, REFUSAL_WINDOW))
    const ss = await meshStatus(stranger)
    expect(ss.connected).toEqual([])
    expect((await meshStatus(a)).connected.map((p) => p.peerId)).toEqual([friend.peerId])
    expect(connectedTo(await meshStatus(b), sa.peerId)).toBe(true)
  })

  it('a bootstrap peer that starts later is reached by redialling', async () => {
    const key = await newMeshKey()
    const first = await start({ AK_MESH_KEY: key })
    const sf = await meshStatus(first)
    const port = /\/tcp\/(\d+)/.exec(sf.addresses[0] as string)?.[1] as string
    // Restart the bootstrap node on the same port after the other node has started dialling it.
    await first.stop()
    nodes.splice(nodes.indexOf(first), 1)
    const b = await start({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sf.addresses[0] as string })
    await new Promise((r) => setTimeout(r, 1000))
    await start({ AK_MESH_KEY: key, AK_MESH_PORT: port }, first.dataDir)
    await waitFor('b reconnected to the restarted bootstrap peer', async () => connectedTo(await meshStatus(b), sf.peerId), 15_000)
  })

  it('the mesh stays off without a key or AK_MESH_ENABLED', async () => {
    const { startNodeProcess } = await import('../helpers/node-process.ts')
    const n = await startNodeProcess()
    nodes.push(n)
    const s = await meshStatus(n)
    expect(s).toMatchObject({ enabled: false, addresses: [], connected: [] })
  })
})
