import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeProcess } from '../helpers/node-process.ts'
import { api, connectedTo, meshStatus, newMeshKey, preparedIdentity, startMeshNode, waitFor } from './mesh-helpers.ts'

interface Location {
  enabled: boolean
  sha256: string
  self: boolean
  holders: { peerId: string; connected: boolean; via: string[]; stale: boolean }[]
  dhtError: string | null
}

const locate = async (n: NodeProcess, sha256: string) => {
  const r = await api<Location>(n, `/api/v1/mesh/providers/${sha256}`)
  if (r.status !== 200) throw new Error(`providers answered ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body
}
const holder = (l: Location, peerId: string) => l.holders.find((h) => h.peerId === peerId)

describe('content location over the mesh: chain A–B–C', () => {
  let a: NodeProcess
  let b: NodeProcess
  let c: NodeProcess
  let ids: { a: string; b: string; c: string }

  beforeAll(async () => {
    const key = await newMeshKey()
    const bIdentity = await preparedIdentity()
    b = await startMeshNode({ AK_MESH_KEY: key }, bIdentity.dataDir)
    const sb = await meshStatus(b)
    // The repository is lazy: B and C learn of A's blob but never fetch it, so only A holds it.
    // A and C accept only B, so C can never connect to A: whatever C learns of A's blobs came
    // through B (the DHT record B stores for A).
    const env = { AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sb.addresses[0] as string, AK_MESH_ALLOW: bIdentity.peerId }
    // A collects garbage quickly, so a deleted artifact's blob really goes away in the test.
    ;[a, c] = await Promise.all([startMeshNode({ ...env, AK_GC_INTERVAL_MS: '300', AK_GC_GRACE_MS: '1000' }), startMeshNode(env)])
    ids = { a: (await meshStatus(a)).peerId, b: sb.peerId, c: (await meshStatus(c)).peerId }
    await waitFor('A and C connected to B', async () => {
      const s = await meshStatus(b)
      return connectedTo(s, ids.a) && connectedTo(s, ids.c)
    })
    const r = await api(a, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'files', format: 'generic', replication: { mode: 'lazy' } }) })
    expect(r.status).toBeLessThan(300)
  })
  afterAll(async () => {
    await Promise.all([a, b, c].filter(Boolean).map((n) => n.stop()))
  })

  const body = `content location test ${Date.now()} ${Math.random()}\n`
  const sha256 = createHash('sha256').update(body).digest('hex')

  it('a have-summary tells B within a few seconds that A holds a blob it just published', async () => {
    const before = await locate(b, sha256)
    expect(holder(before, ids.a)).toBeUndefined()
    const put = await api(a, '/generic/files/docs/located.txt', { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } })
    expect(put.status).toBeLessThan(300)
    expect((await locate(a, sha256)).self).toBe(true)
    const t0 = Date.now()
    const seen = await waitFor('B learns from A\'s summary', async () => {
      const l = await locate(b, sha256)
      return holder(l, ids.a)?.via.includes('summary') ? l : undefined
    }, 5000, 200)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(holder(seen, ids.a)?.connected).toBe(true)
    // B has the replicated metadata but not the bytes: it does not claim to hold the blob.
    expect(seen.self).toBe(false)
  })

  it('C finds A through the DHT, though it has no connection to A and A is not in its bootstrap', async () => {
    const found = await waitFor('C finds A as a DHT provider', async () => {
      const l = await locate(c, sha256)
      return holder(l, ids.a)?.via.includes('dht') ? l : undefined
    }, 15_000, 500)
    const h = holder(found, ids.a)
    expect(h?.connected).toBe(false)
    expect(h?.via).not.toContain('summary')
    expect(found.self).toBe(false)
    expect(connectedTo(await meshStatus(c), ids.a)).toBe(false)
    // A digest nobody published has no holder anywhere.
    const nobody = await locate(c, createHash('sha256').update('never published').digest('hex'))
    expect(nobody.holders).toEqual([])
  })

  it('a deleted (garbage-collected) blob disappears from A\'s have-summary', async () => {
    const del = await api(a, '/generic/files/docs/located.txt', { method: 'DELETE' })
    expect(del.status).toBeLessThan(300)
    await waitFor('A no longer holds the blob', async () => !(await locate(a, sha256)).self, 10_000, 200)
    await waitFor('B no longer lists A by summary', async () => {
      const h = holder(await locate(b, sha256), ids.a)
      // B's DHT copy of A's record lives until it expires (kad-dht cannot withdraw it), but A's
      // fresh summary contradicts it, so it is marked stale and never offered as a source.
      return !h || (!h.via.includes('summary') && h.stale)
    }, 5000, 200)
  })

  it('answers 400 for a malformed digest and 401 without credentials', async () => {
    expect((await api(b, '/api/v1/mesh/providers/not-a-digest')).status).toBe(400)
    const anon = await fetch(`${b.url}/api/v1/mesh/providers/${sha256}`)
    expect(anon.status).toBe(401)
  })
})
