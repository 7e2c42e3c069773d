import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeProcess } from '../helpers/node-process.ts'
import { api, connectedTo, meshStatus, newMeshKey, preparedIdentity, startMeshNode, waitFor } from './mesh-helpers.ts'

/*
 * Per-repository replication settings across real node processes: a hub B with three edges
 * A, C and D that accept only B (so C and D learn A's events through B, never from A).
 */

interface OriginLagBody {
  origin: string
  held: number
  advertised: number
  eventsBehind: number
  secondsBehind: number
  lastEventDelaySeconds: number | null
}
interface StateBody {
  hash: string
  versionVector: Record<string, number>
}

const state = async (n: NodeProcess) => (await api<StateBody>(n, '/api/v1/replication/state')).body
const repoStatus = async (n: NodeProcess, key: string) => (await api(n, `/api/v1/repositories/${key}`)).status

async function createRepo(n: NodeProcess, key: string, replication?: unknown): Promise<void> {
  const r = await api(n, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key, format: 'generic', ...(replication ? { replication } : {}) }) })
  expect(r.status, JSON.stringify(r.body)).toBe(201)
}

async function publish(n: NodeProcess, repo: string, path: string, body: string): Promise<void> {
  const r = await api(n, `/generic/${repo}/${path}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } })
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300)
}

/** Whether the generic listing of `dir` in `repo` names `file`. */
async function lists(n: NodeProcess, repo: string, dir: string, file: string): Promise<boolean> {
  const r = await api(n, `/generic/${repo}/${dir}/`)
  return r.status === 200 && JSON.stringify(r.body).includes(file)
}

/** Every event A appended (replicated origin) is held by `n`: what A sent has been processed there. */
async function caughtUpWith(n: NodeProcess, origin: NodeProcess, originId: string): Promise<void> {
  await waitFor('events relayed', async () => {
    const [mine, theirs] = await Promise.all([state(origin), state(n)])
    return theirs.versionVector[originId] === mine.versionVector[originId]
  }, 10_000)
}

describe('per-repository replication settings over the mesh', () => {
  let a: NodeProcess
  let b: NodeProcess
  let c: NodeProcess
  let d: NodeProcess
  let ids: { a: string; b: string; c: string; d: string }

  beforeAll(async () => {
    const key = await newMeshKey()
    const bIdentity = await preparedIdentity()
    b = await startMeshNode({ AK_MESH_KEY: key, AK_MESH_LABELS: 'region=us' }, bIdentity.dataDir)
    const sb = await meshStatus(b)
    const edge = { AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sb.addresses[0] as string, AK_MESH_ALLOW: bIdentity.peerId }
    ;[a, c, d] = await Promise.all([
      startMeshNode({ ...edge, AK_MESH_LABELS: 'region=eu,site=a' }),
      startMeshNode({ ...edge, AK_MESH_LABELS: 'region=eu,site=c' }),
      startMeshNode({ ...edge, AK_MESH_AUTO_CREATE: 'false' }),
    ])
    ids = { a: (await meshStatus(a)).peerId, b: sb.peerId, c: (await meshStatus(c)).peerId, d: (await meshStatus(d)).peerId }
    await waitFor('A, C and D connected to B', async () => {
      const s = await meshStatus(b)
      return connectedTo(s, ids.a) && connectedTo(s, ids.c) && connectedTo(s, ids.d)
    })
  }, 60_000)
  afterAll(async () => {
    await Promise.all([a, b, c, d].filter(Boolean).map((n) => n.stop()))
  })

  it('the API validates, stores and returns the replication object (with defaults)', async () => {
    const bad = await api(a, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'bad', format: 'generic', replication: { mode: 'sometimes' } }) })
    expect(bad.status).toBe(400)
    const badPeer = await api(a, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'bad', format: 'generic', replication: { peers: ['not a peer id'] } }) })
    expect(badPeer.status).toBe(400)
    await createRepo(a, 'defaults')
    const got = await api<{ replication: unknown }>(a, '/api/v1/repositories/defaults')
    expect(got.body.replication).toEqual({ mode: 'eager', peers: 'all', labels: {}, filters: {} })
    const patched = await api<{ replication: unknown; settings: { replication?: unknown } }>(a, '/api/v1/repositories/defaults', {
      method: 'PATCH',
      body: JSON.stringify({ replication: { mode: 'lazy', filters: { paths: ['**/*.tgz'] } } }),
    })
    expect(patched.status).toBe(200)
    expect(patched.body.replication).toEqual({ mode: 'lazy', peers: 'all', labels: {}, filters: { paths: ['**/*.tgz'] } })
    expect(patched.body.settings.replication).toEqual({ mode: 'lazy', filters: { paths: ['**/*.tgz'] } })
  })

  it('a local-only repository never appears on a peer, and its events are not in any version vector', async () => {
    await createRepo(a, 'private', { mode: 'local-only' })
    await publish(a, 'private', 'dir/secret.txt', 'not for the mesh\n')
    await createRepo(a, 'public')
    await publish(a, 'public', 'dir/open.txt', 'for everyone\n')
    await waitFor('C lists the public artifact', () => lists(c, 'public', 'dir', 'open.txt'), 10_000)
    await caughtUpWith(b, a, ids.a)
    expect(await repoStatus(b, 'private')).toBe(404)
    expect(await repoStatus(c, 'private')).toBe(404)
    const [sa, sb, sc] = await Promise.all([state(a), state(b), state(c)])
    for (const s of [sa, sb, sc]) expect(Object.keys(s.versionVector).some((o) => o.startsWith('local:'))).toBe(false)
    // A's replicated sequence has no gap where the local-only events went: peers hold all of it.
    expect(sc.versionVector[ids.a]).toBe(sa.versionVector[ids.a])
    expect(await lists(a, 'private', 'dir', 'secret.txt')).toBe(true)
  })

  it('switching a local-only repository to replicated announces it and its current artifacts', async () => {
    const r = await api(a, '/api/v1/repositories/private', { method: 'PATCH', body: JSON.stringify({ replication: { mode: 'eager' } }) })
    expect(r.status).toBe(200)
    await waitFor('C lists the formerly local-only artifact', () => lists(c, 'private', 'dir', 'secret.txt'), 10_000)
  })

  it('peers: a repository for [A] only is not materialised on B or C; one for [A, C] reaches C through B', async () => {
    await createRepo(a, 'only-a', { peers: [ids.a] })
    await publish(a, 'only-a', 'dir/a.txt', 'a\n')
    await createRepo(a, 'a-and-c', { peers: [ids.a, ids.c] })
    await publish(a, 'a-and-c', 'dir/ac.txt', 'ac\n')
    await waitFor('C lists the a-and-c artifact', () => lists(c, 'a-and-c', 'dir', 'ac.txt'), 10_000)
    await caughtUpWith(b, a, ids.a)
    await caughtUpWith(c, a, ids.a)
    // B relayed the events to C without materialising either repository itself.
    expect(await repoStatus(b, 'a-and-c')).toBe(404)
    expect(await repoStatus(b, 'only-a')).toBe(404)
    expect(await repoStatus(c, 'only-a')).toBe(404)
    expect(connectedTo(await meshStatus(c), ids.a)).toBe(false)
  })

  it('a node becomes selected by a settings change and applies the held events', async () => {
    const r = await api(a, '/api/v1/repositories/only-a', { method: 'PATCH', body: JSON.stringify({ replication: { peers: [ids.a, ids.b] } }) })
    expect(r.status).toBe(200)
    await waitFor('B lists the artifact it held without applying', () => lists(b, 'only-a', 'dir', 'a.txt'), 10_000)
    expect(await repoStatus(c, 'only-a')).toBe(404)
  })

  it('labels: a repository for region=eu reaches C (eu) but not B (us)', async () => {
    await createRepo(a, 'eu-only', { labels: { region: 'eu' } })
    await publish(a, 'eu-only', 'dir/eu.txt', 'eu\n')
    await waitFor('C lists the eu artifact', () => lists(c, 'eu-only', 'dir', 'eu.txt'), 10_000)
    await caughtUpWith(b, a, ids.a)
    expect(await repoStatus(b, 'eu-only')).toBe(404)
  })

  it('path filters: only matching paths are materialised on the peers', async () => {
    await createRepo(a, 'filtered', { filters: { paths: ['release/**'] } })
    await publish(a, 'filtered', 'nightly/n.bin', 'nightly\n')
    await publish(a, 'filtered', 'release/1.0/r.bin', 'release\n')
    await waitFor('C lists the release artifact', () => lists(c, 'filtered', 'release/1.0', 'r.bin'), 10_000)
    await caughtUpWith(c, a, ids.a)
    expect(await lists(c, 'filtered', 'nightly', 'n.bin')).toBe(false)
    expect(await lists(a, 'filtered', 'nightly', 'n.bin')).toBe(true)
  })

  it('auto-create off: D has no repository until an admin creates it, then its artifacts appear', async () => {
    await caughtUpWith(d, a, ids.a)
    expect(await repoStatus(d, 'public')).toBe(404)
    await createRepo(d, 'public')
    await waitFor('D lists the held artifact', () => lists(d, 'public', 'dir', 'open.txt'), 10_000)
  })

  it('mesh status reports per-origin lag, which goes to 0 once caught up', async () => {
    await publish(a, 'public', 'dir/lag.txt', 'lag\n')
    await caughtUpWith(c, a, ids.a)
    const held = (await state(a)).versionVector[ids.a]
    const lag = await waitFor('C reports A with no lag', async () => {
      const s = await api<{ lag: OriginLagBody[] }>(c, '/api/v1/mesh/status')
      const entry = s.body.lag.find((l) => l.origin === ids.a)
      return entry && entry.eventsBehind === 0 && entry.advertised === held ? entry : undefined
    }, 10_000)
    expect(lag.held).toBe(held)
    expect(lag.secondsBehind).toBe(0)
    expect(lag.lastEventDelaySeconds).toBeGreaterThanOrEqual(0)
    // B advertised A's vector to C, and C's own origin is listed too.
    const s = await api<{ lag: OriginLagBody[] }>(c, '/api/v1/mesh/status')
    expect(s.body.lag.every((l) => typeof l.held === 'number' && typeof l.secondsBehind === 'number')).toBe(true)
  })
})
