import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { createProfileStore, openDb, type Db } from '../../store/index.ts'
import { createMeshHost, createPeerProfiles, loadOrCreateIdentity, PENALTY, type MeshHost, type PeerProfiles } from '../../mesh/index.ts'
import type { ChunkSource } from '../../scheduler/index.ts'
import { tempDir } from '../helpers/node-process.ts'
import { waitFor } from './mesh-helpers.ts'

/** A source as the scheduler would hand it to SourceFeedback: only its identity matters here. */
function source(kind: ChunkSource['kind'], peerId: string | undefined, id = `${kind}:${peerId ?? 'upstream'}`): ChunkSource {
  const unused = () => Promise.reject(new Error('not used by SourceFeedback'))
  return { id, kind, peerId, have: unused, manifest: unused, fetchChunk: unused }
}

/** Two in-process libp2p hosts on loopback (real sockets), each with its own profiles and SQLite file. */
describe('peer profiles as the scheduler\'s SourceFeedback (two in-process hosts)', () => {
  let hostA: MeshHost
  let hostB: MeshHost
  let dbA: Db
  let dbFile: string
  let profiles: PeerProfiles
  let profilesB: PeerProfiles
  let dbB: Db
  let idB: string

  beforeAll(async () => {
    const dirA = tempDir('ak-prof-a-')
    const dirB = tempDir('ak-prof-b-')
    dbFile = join(dirA, 'metadata.db')
    dbA = openDb(dbFile)
    hostA = createMeshHost({ identity: await loadOrCreateIdentity(dirA), port: 0 })
    await hostA.start()
    dbB = openDb(join(dirB, 'metadata.db'))
    hostB = createMeshHost({ identity: await loadOrCreateIdentity(dirB), port: 0, bootstrap: [hostA.addresses()[0] as string] })
    idB = hostB.peerId
    // A measures (no auto probe: these tests drive the samples themselves); B serves probes.
    profiles = createPeerProfiles({ host: hostA, store: createProfileStore(dbA) }, { autoProbe: false, pingIntervalMs: 60_000, flushDelayMs: 60_000, probeBytes: 64 * 1024 })
    await profiles.start()
    await hostB.start()
    profilesB = createPeerProfiles({ host: hostB, store: createProfileStore(dbB) }, { autoProbe: false, pingIntervalMs: 60_000 })
    await profilesB.start()
    await waitFor('A pinged B once on connect', async () => (profiles.get(idB)?.rttSamples ?? 0) >= 1, 10_000)
  })
  afterAll(async () => {
    profiles?.stop()
    profilesB?.stop()
    await Promise.all([hostA?.stop(), hostB?.stop()])
    dbA?.close()
    dbB?.close()
  })

  it('estimates RTT from the connect ping, and nothing yet for throughput or load', () => {
    const e = profiles.estimate(source('libp2p', idB))
    expect(e.rttMs).toBeGreaterThanOrEqual(0)
    expect(e.bytesPerSecond).toBeUndefined()
    expect(e.load).toBeUndefined()
  })

  it('keeps throughput per transport kind, and lets an unmeasured kind borrow the other', () => {
    profiles.transferred(source('http', idB), 1_048_576, 100) // 10 MiB/s
    expect(profiles.estimate(source('http', idB)).bytesPerSecond).toBeCloseTo(10_485_760, 0)
    // Never measured over libp2p: borrows the HTTP figure.
    expect(profiles.estimate(source('libp2p', idB)).bytesPerSecond).toBeCloseTo(10_485_760, 0)
    profiles.transferred(source('libp2p', idB), 1_048_576, 1000) // 1 MiB/s
    expect(profiles.estimate(source('libp2p', idB)).bytesPerSecond).toBeCloseTo(1_048_576, 0)
    expect(profiles.estimate(source('http', idB)).bytesPerSecond).toBeCloseTo(10_485_760, 0)
    const view = profiles.get(idB)
    expect(view?.throughput.http?.samples).toBe(1)
    expect(view?.throughput.libp2p?.samples).toBe(1)
  })

  it('profiles an upstream (no peer) by its source id, apart from every peer', () => {
    const up = source('upstream', undefined, 'upstream:https://registry.npmjs.org')
    expect(profiles.estimate(up)).toEqual({})
    profiles.transferred(up, 500_000, 250)
    expect(profiles.estimate(up).bytesPerSecond).toBeCloseTo(2_000_000, 0)
    expect(profiles.list().every((p) => p.peerId !== up.id)).toBe(true)
  })

  it('counts failures by reason, and a corrupt chunk also penalises the peer', () => {
    const before = hostA.penalties.score(idB)
    profiles.failed(source('libp2p', idB), 'timeout')
    profiles.failed(source('http', idB), 'timeout')
    expect(hostA.penalties.score(idB)).toBe(before)
    profiles.failed(source('libp2p', idB), 'corrupt')
    expect(hostA.penalties.score(idB)).toBe(before + PENALTY.corrupt)
    expect(profiles.get(idB)?.failures).toMatchObject({ timeout: 2, corrupt: 1, refused: 0 })
  })

  it('takes load and labels from the injected advertisement lookup', () => {
    profiles.usePeerInfo((peerId) => (peerId === idB ? { labels: { region: 'eu' }, load: 3 } : undefined))
    expect(profiles.estimate(source('libp2p', idB)).load).toBe(3)
    expect(profiles.get(idB)).toMatchObject({ labels: { region: 'eu' }, load: 3 })
  })

  it('an on-demand probe adds a libp2p throughput sample', async () => {
    const samples = profiles.get(idB)?.throughput.libp2p?.samples ?? 0
    const r = await profiles.probe(idB, AbortSignal.timeout(10_000))
    expect(r.bytes).toBe(64 * 1024)
    expect(r.bytesPerSecond).toBeGreaterThan(0)
    expect(profiles.get(idB)?.throughput.libp2p?.samples).toBe(samples + 1)
  })

  it('writes nothing before the debounce, and everything on flush', () => {
    const count = () => (dbA.prepare('SELECT COUNT(*) AS n FROM peer_profiles').get() as { n: number }).n
    expect(count()).toBe(0) // flushDelayMs is a minute: no per-sample writes
    profiles.flush()
    expect(count()).toBe(1)
    const row = dbA.prepare('SELECT * FROM peer_profiles WHERE peer_id = ?').get(idB) as Record<string, unknown>
    expect(row.libp2p_samples).toBe(profiles.get(idB)?.throughput.libp2p?.samples)
    expect(row.http_samples).toBe(1)
    expect(JSON.parse(row.failures as string)).toMatchObject({ timeout: 2, corrupt: 1 })
    expect(JSON.parse(row.labels as string)).toEqual({ region: 'eu' })
    expect(row.rtt_samples).toBe(profiles.get(idB)?.rttSamples)
  })
})
