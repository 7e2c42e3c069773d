import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeProcess } from '../helpers/node-process.ts'
import { api, connectedTo, meshStatus, newMeshKey, preparedIdentity, startMeshNode, waitFor } from './mesh-helpers.ts'

interface StateBody {
  hash: string
  versionVector: Record<string, number>
  artifacts: number
  sync: { eventsApplied: number; eventsRejected: number } | null
}

const state = async (n: NodeProcess) => (await api<StateBody>(n, '/api/v1/replication/state')).body

async function publish(n: NodeProcess, repo: string, path: string, body: string): Promise<void> {
  const r = await api(n, `/generic/${repo}/${path}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } })
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300)
}

/** The generic listing of a directory, as text (whatever its shape, it names the files it holds). */
async function listing(n: NodeProcess, repo: string, dir: string): Promise<string> {
  const r = await api(n, `/generic/${repo}/${dir}/`)
  return r.status === 200 ? JSON.stringify(r.body) : ''
}

describe('replication over the mesh: chain A–B–C', () => {
  let key: string
  let a: NodeProcess
  let b: NodeProcess
  let c: NodeProcess
  let ids: { a: string; b: string; c: string }
  let edgeEnv: Record<string, string>

  beforeAll(async () => {
    key = await newMeshKey()
    const bIdentity = await preparedIdentity()
    b = await startMeshNode({ AK_MESH_KEY: key }, bIdentity.dataDir)
    const sb = await meshStatus(b)
    // A and C accept only B: the DHT would otherwise introduce them, and the chain must hold.
    const env = { AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sb.addresses[0] as string, AK_MESH_ALLOW: bIdentity.peerId }
    edgeEnv = env
    ;[a, c] = await Promise.all([startMeshNode(env), startMeshNode(env)])
    ids = { a: (await meshStatus(a)).peerId, b: sb.peerId, c: (await meshStatus(c)).peerId }
    await waitFor('A and C connected to B', async () => {
      const s = await meshStatus(b)
      return connectedTo(s, ids.a) && connectedTo(s, ids.c)
    })
  })
  afterAll(async () => {
    await Promise.all([a, b, c].filter(Boolean).map((n) => n.stop()))
  })

  it('a generic artifact published on A is listed on C within 5 s, though C never connects to A', async () => {
    const r = await api(a, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'files', format: 'generic' }) })
    expect(r.status).toBeLessThan(300)
    await publish(a, 'files', 'tools/hello.txt', 'hello from A\n')
    const t0 = Date.now()
    await waitFor('C lists the artifact', async () => (await listing(c, 'files', 'tools')).includes('hello.txt'), 5000, 100)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(connectedTo(await meshStatus(c), ids.a)).toBe(false)
    expect(connectedTo(await meshStatus(a), ids.c)).toBe(false)
    // The repository is eager (the default): C fetches the bytes through the swarm, from B (which
    // fetched them from A) or from A itself, and serves exactly what A published.
    const served = await waitFor(
      'C serves the bytes',
      async () => {
        const get = await fetch(`${c.url}/generic/files/tools/hello.txt`, { headers: { authorization: c.adminAuth }, signal: AbortSignal.timeout(10_000) })
        return get.status === 200 ? await get.text() : undefined
      },
      15_000,
      200,
    )
    expect(served).toBe('hello from A\n')
    // On A the bytes are still served.
    const onA = await fetch(`${a.url}/generic/files/tools/hello.txt`, { headers: { authorization: a.adminAuth } })
    expect(await onA.text()).toBe('hello from A\n')
  })

  it('all three nodes reach the same replication state hash and version vector', async () => {
    await publish(c, 'files', 'tools/from-c.txt', 'hello from C\n')
    await publish(a, 'files', 'tools/second.txt', 'second from A\n')
    await waitFor('equal state hashes', async () => {
      const [sa, sb, sc] = await Promise.all([state(a), state(b), state(c)])
      return sa.hash === sb.hash && sb.hash === sc.hash && sa.artifacts === 3 && JSON.stringify(sa.versionVector) === JSON.stringify(sc.versionVector)
    }, 10_000)
    const sa = await state(a)
    expect(Object.keys(sa.versionVector).sort()).toEqual([ids.a, ids.c].sort())
    expect((await listing(a, 'files', 'tools'))).toContain('from-c.txt')
  })

  it('deletes replicate as tombstones', async () => {
    const r = await api(a, '/generic/files/tools/second.txt', { method: 'DELETE' })
    expect(r.status).toBeLessThan(300)
    await waitFor('C drops the deleted artifact', async () => !(await listing(c, 'files', 'tools')).includes('second.txt'), 5000)
    await waitFor('equal state hashes', async () => {
      const [sa, sb, sc] = await Promise.all([state(a), state(b), state(c)])
      return sa.hash === sb.hash && sb.hash === sc.hash
    }, 10_000)
    expect((await api<{ tombstones: number }>(c, '/api/v1/replication/state')).body.tombstones).toBe(1)
  })

  it('a restarted node resumes from its version vector and pulls only what it lacks', async () => {
    const before = await state(c)
    await c.stop()
    await publish(a, 'files', 'tools/while-c-was-down.txt', 'new\n')
    c = await startMeshNode(edgeEnv, c.dataDir)
    await waitFor('C catches up', async () => (await listing(c, 'files', 'tools')).includes('while-c-was-down.txt'), 10_000)
    const after = await state(c)
    const total = (v: Record<string, number>) => Object.values(v).reduce((x, y) => x + y, 0)
    // Exactly the one new event was pulled: nothing it already held came again.
    expect(total(after.versionVector) - total(before.versionVector)).toBe(1)
    expect(after.sync?.eventsApplied).toBe(1)
  })
})
