import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_PASSWORD, runAk, type NodeProcess } from '../helpers/node-process.ts'
import { api, meshStatus, newMeshKey, preparedIdentity, startMeshNode, waitFor } from './mesh-helpers.ts'

interface PeerView {
  peerId: string
  connected: boolean
  addresses: string[]
  labels: Record<string, string>
  rttMs: number | null
  jitterMs: number | null
  rttSamples: number
  throughput: { libp2p: { bytesPerSecond: number; samples: number } | null; http: { bytesPerSecond: number; samples: number } | null }
  load: number | null
  failures: Record<string, number>
  lastSeen: number | null
}
interface PeersBody {
  enabled: boolean
  peers: PeerView[]
}

const PROBE_BYTES = 256 * 1024

async function peerOf(node: NodeProcess, peerId: string): Promise<PeerView | undefined> {
  const r = await api<PeersBody>(node, '/api/v1/mesh/peers')
  if (r.status !== 200) throw new Error(`mesh peers answered ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body.peers.find((p) => p.peerId === peerId)
}

describe('peer profiles: RTT, throughput probe, persistence, API and CLI', () => {
  let key: string
  let a: NodeProcess
  let b: NodeProcess
  let idA: string
  let idB: string
  let bDataDir: string
  const env = (extra: Record<string, string> = {}) => ({ AK_MESH_PING_INTERVAL_MS: '300', AK_MESH_PROBE_BYTES: String(PROBE_BYTES), ...extra })

  beforeAll(async () => {
    key = await newMeshKey()
    a = await startMeshNode(env({ AK_MESH_KEY: key }))
    const sa = await meshStatus(a)
    idA = sa.peerId
    const prepared = await preparedIdentity()
    bDataDir = prepared.dataDir
    idB = prepared.peerId
    b = await startMeshNode(env({ AK_MESH_KEY: key, AK_MESH_BOOTSTRAP: sa.addresses[0] as string }), bDataDir)
  })
  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((n) => n.stop()))
  })

  it('lists the other node, connected, with an RTT and jitter within a few seconds', async () => {
    const t0 = Date.now()
    const p = await waitFor('A profiles B with an RTT', async () => {
      const v = await peerOf(a, idB)
      return v && v.connected && v.rttMs !== null && v.rttSamples >= 2 ? v : undefined
    }, 5000)
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(p.rttMs).toBeGreaterThanOrEqual(0)
    expect(p.rttMs).toBeLessThan(1000) // loopback
    expect(p.jitterMs).not.toBeNull()
    expect(p.addresses.some((addr) => addr.startsWith('/ip4/127.0.0.1/tcp/'))).toBe(true)
    expect(p.lastSeen).toBeGreaterThan(t0 - 10_000)
    expect(p.failures).toEqual({ corrupt: 0, timeout: 0, refused: 0, gone: 0, error: 0 })
    // Samples keep coming at the configured interval.
    await waitFor('more pings', async () => ((await peerOf(a, idB))?.rttSamples ?? 0) > p.rttSamples, 3000)
    // Each side profiles the other.
    expect((await waitFor('B profiles A', async () => (await peerOf(b, idA))?.rttMs !== null && (await peerOf(b, idA)), 5000)).connected).toBe(true)
  })

  it('measures throughput with a probe before any real transfer, and again on demand (rate-limited)', async () => {
    const auto = await waitFor('auto probe of B', async () => (await peerOf(a, idB))?.throughput.libp2p ?? undefined, 10_000)
    expect(auto.bytesPerSecond).toBeGreaterThan(0)
    expect(auto.samples).toBeGreaterThanOrEqual(1)

    // On demand: B serves A one probe per 5 s, so within 10 s one of these succeeds…
    const ok = await waitFor('an on-demand probe', async () => {
      const r = await api<{ probe: { bytes: number; ms: number; bytesPerSecond: number }; peer: PeerView }>(a, `/api/v1/mesh/peers/${idB}/probe`, { method: 'POST' })
      if (r.status === 429) return undefined
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body
    }, 12_000, 1000)
    expect(ok.probe.bytes).toBe(PROBE_BYTES)
    expect(ok.probe.bytesPerSecond).toBeGreaterThan(0)
    expect(ok.peer.throughput.libp2p?.samples).toBeGreaterThan(auto.samples - 1)
    // …and one right after it is refused by B's rate limit.
    const again = await api<{ error: string }>(a, `/api/v1/mesh/peers/${idB}/probe`, { method: 'POST' })
    expect(again.status).toBe(429)
    expect(again.body.error).toBe('AK_TOO_MANY_ATTEMPTS')
    // A peer that is not connected cannot be probed.
    const unknown = await api(a, `/api/v1/mesh/peers/${idA}/probe`, { method: 'POST' })
    expect(unknown.status).toBe(404)
  })

  it('refuses anonymous callers (401) and non-admin users (403)', async () => {
    const anon = await fetch(`${a.url}/api/v1/mesh/peers`, { signal: AbortSignal.timeout(10_000) })
    expect(anon.status).toBe(401)
    const created = await api(a, '/api/v1/users', { method: 'POST', body: JSON.stringify({ name: 'reader', password: 'reader-password-1' }) })
    expect(created.status).toBe(201)
    const basic = `Basic ${Buffer.from('reader:reader-password-1').toString('base64')}`
    for (const [method, path] of [['GET', '/api/v1/mesh/peers'], ['GET', `/api/v1/mesh/peers/${idB}`], ['POST', `/api/v1/mesh/peers/${idB}/probe`]] as const) {
      const r = await fetch(`${a.url}${path}`, { method, headers: { authorization: basic }, signal: AbortSignal.timeout(10_000) })
      expect(r.status, `${method} ${path}`).toBe(403)
    }
    const anonProbe = await fetch(`${a.url}/api/v1/mesh/peers/${idB}/probe`, { method: 'POST', signal: AbortSignal.timeout(10_000) })
    expect(anonProbe.status).toBe(401)
  })

  it('`ak mesh peers` prints the table and JSON from a running node, and fails cleanly without credentials', async () => {
    const creds = { AK_USER: 'admin', AK_PASSWORD: ADMIN_PASSWORD }
    const t = await runAk(['mesh', 'peers', '--url', a.url], creds)
    expect(t.code, t.stderr).toBe(0)
    const lines = t.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^PEER\s+STATE\s+LABELS\s+RTT MS/)
    const row = lines.find((l) => l.startsWith(idB))
    expect(row).toBeDefined()
    expect(row).toMatch(/\bconnected\b/)
    expect(row).toMatch(/[KMG]iB\/s|B\/s/)

    const j = await runAk(['mesh', 'peers', '--url', a.url, '--json'], creds)
    expect(j.code, j.stderr).toBe(0)
    const body = JSON.parse(j.stdout) as PeersBody
    expect(body.enabled).toBe(true)
    expect(body.peers.find((p) => p.peerId === idB)?.connected).toBe(true)

    const denied = await runAk(['mesh', 'peers', '--url', a.url])
    expect(denied.code).toBe(1)
    expect(denied.stderr).toMatch(/answered 401/)
  })

  it('keeps profiles across a restart (written on a debounce while running, not only at shutdown)', async () => {
    const before = await waitFor('B has RTT and throughput for A', async () => {
      const v = await peerOf(b, idA)
      return v && v.rttSamples >= 3 && v.throughput.libp2p ? v : undefined
    }, 10_000)
    // The write debounce is 2 s: after 2.5 s the row holds at least `before`. SIGKILL: no shutdown flush.
    await new Promise((r) => setTimeout(r, 2500))
    await b.kill()
    // Restarted without a bootstrap peer: A is known only from the saved profile.
    b = await startMeshNode(env({ AK_MESH_KEY: key }), bDataDir)
    const after = await peerOf(b, idA)
    expect(after, 'profile of A after restart').toBeDefined()
    expect(after?.connected).toBe(false)
    expect(after?.rttSamples).toBeGreaterThanOrEqual(before.rttSamples)
    expect(after?.rttMs).not.toBeNull()
    expect(after?.throughput.libp2p?.bytesPerSecond).toBeGreaterThan(0)
    expect(after?.addresses.length).toBeGreaterThan(0)
    expect((await meshStatus(b)).peerId).toBe(idB)
  })
})
