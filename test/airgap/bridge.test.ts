import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeProcess } from '../helpers/node-process.ts'
import { api, connectedTo, meshStatus, newMeshKey, preparedIdentity, startMeshNode, waitFor } from './airgap-helpers.ts'

/*
 * The bridge topology of docs/airgap.md: the site node S accepts exactly one peer, the bridge B;
 * B also belongs to the outer mesh (O). O never learns of S, S never connects to O, and
 * replication still flows both ways through B's relaying sync.
 */
describe('air-gapped site behind a single bridge peer', () => {
  let s: NodeProcess
  let b: NodeProcess
  let o: NodeProcess
  let ids: { s: string; b: string; o: string }

  const listing = async (n: NodeProcess, dir: string) => {
    const r = await api(n, `/generic/shared/${dir}/`)
    return r.status === 200 ? JSON.stringify(r.body) : ''
  }
  const publish = async (n: NodeProcess, path: string, body: string) => {
    const r = await api(n, `/generic/shared/${path}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } })
    expect(r.status, JSON.stringify(r.body)).toBeLessThan(300)
  }

  beforeAll(async () => {
    const key = await newMeshKey()
    const bridge = await preparedIdentity()
    b = await startMeshNode({ AK_MESH_KEY: key, AK_MESH_LABELS: 'role=bridge' }, bridge.dataDir)
    const bAddr = (await meshStatus(b)).addresses[0] as string
    ;[o, s] = await Promise.all([
      startMeshNode({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: bAddr, AK_MESH_LABELS: 'site=outer' }),
      startMeshNode({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: bAddr, AK_MESH_ALLOW: bridge.peerId, AK_MESH_LABELS: 'site=vault' }),
    ])
    ids = { s: (await meshStatus(s)).peerId, b: bridge.peerId, o: (await meshStatus(o)).peerId }
    await waitFor('S and O connected to the bridge', async () => {
      const st = await meshStatus(b)
      return connectedTo(st, ids.s) && connectedTo(st, ids.o)
    }, 15_000)
  })
  afterAll(async () => {
    await Promise.all([s, b, o].filter(Boolean).map((n) => n.stop()))
  })

  it('a publish on the outer node reaches the site node', async () => {
    const r = await api(o, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'shared', format: 'generic' }) })
    expect(r.status, JSON.stringify(r.body)).toBeLessThan(300)
    await publish(o, 'in/from-outer.txt', 'published outside\n')
    await waitFor('S lists the outer artifact', async () => (await listing(s, 'in')).includes('from-outer.txt'), 15_000)
  })

  it('a publish on the site node reaches the outer node', async () => {
    await waitFor('S has the repository', async () => (await api(s, '/api/v1/repositories/shared')).status === 200, 15_000)
    await publish(s, 'out/from-site.txt', 'published inside\n')
    await waitFor('O lists the site artifact', async () => (await listing(o, 'out')).includes('from-site.txt'), 15_000)
  })

  it('the site node only ever connected to the bridge', async () => {
    const st = await meshStatus(s)
    expect(st.connected.map((p) => p.peerId)).toEqual([ids.b])
    expect(connectedTo(await meshStatus(o), ids.s)).toBe(false)
    const [hs, ho] = await Promise.all([s, o].map(async (n) => (await api<{ hash: string }>(n, '/api/v1/replication/state')).body.hash))
    expect(hs).toBe(ho)
  })
})
