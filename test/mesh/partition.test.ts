import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeProcess } from '../helpers/node-process.ts'
import { api, connectedTo, meshStatus, newMeshKey, preparedIdentity, startMeshNode, waitFor } from './mesh-helpers.ts'

interface StateBody {
  hash: string
  versionVector: Record<string, number>
  artifacts: number
  tombstones: number
}
interface Conflict {
  detectedAt: number
  repo: string
  path: string
  winner: { origin: string; sha256: string }
  loser: { origin: string; sha256: string }
}

const state = async (n: NodeProcess) => (await api<StateBody>(n, '/api/v1/replication/state')).body
const conflicts = async (n: NodeProcess) => (await api<{ conflicts: Conflict[] }>(n, '/api/v1/replication/conflicts')).body.conflicts

async function put(n: NodeProcess, repo: string, path: string, body: string): Promise<void> {
  const r = await api(n, `/generic/${repo}/${path}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } })
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300)
}

async function get(n: NodeProcess, repo: string, path: string): Promise<{ status: number; sha256: string | null }> {
  const res = await fetch(`${n.url}/generic/${repo}/${path}`, { method: 'HEAD', headers: { authorization: n.adminAuth }, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, sha256: res.headers.get('x-checksum-sha256') }
}

/** A TCP port that was free a moment ago (B must come back on the same mesh address after its restart). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

describe('partition: A–B–C, B down while A and C both write, then B returns', () => {
  let a: NodeProcess
  let b: NodeProcess
  let c: NodeProcess
  let bEnv: Record<string, string>
  let ids: { a: string; b: string; c: string }

  beforeAll(async () => {
    const key = await newMeshKey()
    const bIdentity = await preparedIdentity()
    bEnv = { AK_MESH_KEY: key, AK_MESH_PORT: String(await freePort()) }
    b = await startMeshNode(bEnv, bIdentity.dataDir)
    const sb = await meshStatus(b)
    // A and C know only B (and accept only B), so while B is down they cannot meet.
    const env = { AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sb.addresses[0] as string, AK_MESH_ALLOW: bIdentity.peerId }
    ;[a, c] = await Promise.all([startMeshNode(env), startMeshNode(env)])
    ids = { a: (await meshStatus(a)).peerId, b: sb.peerId, c: (await meshStatus(c)).peerId }
    await waitFor('A and C connected to B', async () => {
      const s = await meshStatus(b)
      return connectedTo(s, ids.a) && connectedTo(s, ids.c)
    }, 15_000)
    for (const [key, settings] of [
      ['releases', { immutable: true }],
      ['channels', {}],
    ] as const) {
      const r = await api(a, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key, format: 'generic', settings }) })
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(300)
    }
    await put(a, 'releases', 'app/1.0/app.tgz', 'app 1.0\n')
    await put(a, 'channels', 'app/stable', '1.0\n')
    await waitFor('C has the starting state', async () => (await state(c)).hash === (await state(a)).hash, 10_000)
  }, 90_000)

  afterAll(async () => {
    await Promise.all([a, b, c].filter(Boolean).map((n) => n.stop()))
  })

  it('all three reach the same state hash within 15 s and report the same conflict winner', async () => {
    await b.stop()
    // While apart: each side publishes its own files, the same immutable path with different bytes,
    // and moves the same mutable pointer ('stable' channel) — C last, so C's move must win everywhere.
    await put(a, 'releases', 'app/2.0/app.tgz', 'app 2.0 built on A\n')
    await put(a, 'releases', 'app/a-only.txt', 'only A\n')
    await put(a, 'channels', 'app/stable', '2.0-from-A\n')
    await new Promise((r) => setTimeout(r, 20))
    await put(c, 'releases', 'app/2.0/app.tgz', 'app 2.0 built on C\n')
    await put(c, 'releases', 'app/c-only.txt', 'only C\n')
    await put(c, 'channels', 'app/stable', '2.0-from-C\n')
    expect((await state(a)).hash).not.toBe((await state(c)).hash)

    const t0 = Date.now()
    b = await startMeshNode(bEnv, b.dataDir)
    const states = await waitFor(
      'A, B and C on one state hash',
      async () => {
        const s = await Promise.all([state(a), state(b), state(c)])
        return s.every((x) => x.hash === s[0]?.hash) ? s : undefined
      },
      15_000,
      100,
    )
    expect(Date.now() - t0).toBeLessThan(15_000)
    expect(states[0]?.versionVector).toEqual(states[2]?.versionVector)

    // One conflict, the same winner everywhere: A published first (lower HLC), so A's bytes win.
    // detectedAt is each node's own clock: compare the rest.
    const lists = (await Promise.all([a, b, c].map(conflicts))).map((l) => l.map(({ detectedAt: _, ...rest }) => rest))
    for (const list of lists) {
      expect(list).toHaveLength(1)
      expect(list[0]).toMatchObject({ repo: 'releases', path: 'app/2.0/app.tgz', winner: { origin: ids.a }, loser: { origin: ids.c } })
    }
    expect(lists[1]).toEqual(lists[0])
    expect(lists[2]).toEqual(lists[0])
    // Every node points the path at the winner's bytes (C too, which published the loser locally).
    const winner = lists[0]?.[0]?.winner.sha256
    for (const n of [a, c]) expect((await get(n, 'releases', 'app/2.0/app.tgz')).sha256).toBe(winner)
    // The pointer: last writer (C) wins on every node.
    const onA = await fetch(`${a.url}/generic/channels/app/stable`, { headers: { authorization: a.adminAuth } })
    expect(await onA.text()).toBe('2.0-from-C\n')
    // Both sides' own files are everywhere.
    for (const n of [a, b, c]) {
      expect((await get(n, 'releases', 'app/a-only.txt')).status).not.toBe(404)
      expect((await get(n, 'releases', 'app/c-only.txt')).status).not.toBe(404)
    }
  }, 60_000)
})
