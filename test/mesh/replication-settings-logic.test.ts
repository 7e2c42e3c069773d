import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMemoryDriver, openStore, type Store } from '../../store/index.ts'
import { createEventSigner, createFloodGuard, createLagTracker } from '../../mesh/index.ts'
import { contentFilter, createEventApplier, effectiveReplication, replicationState, selectsNode, type RemoteBlob } from '../../store/index.ts'
import { globToRegExp } from '../../store/index.ts'
import { tempDir } from '../helpers/node-process.ts'
import { computeDigests } from './digests.ts'

async function node(): Promise<{ store: Store; peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key).toString()
  const store = openStore({ dataDir: tempDir('ak-repl-'), driver: createMemoryDriver(), nodeId: peerId, sign: createEventSigner(key) })
  return { store, peerId }
}
const put = (s: Store, repo: string, path: string, text: string, properties?: Record<string, unknown>) =>
  s.artifacts.put({ repo, path, blob: computeDigests(Buffer.from(text)), overwrite: true, properties })
const allEvents = (n: { store: Store; peerId: string }) => n.store.log.sinceSigned(n.peerId, 0, 10_000)

describe('replication filter globs', () => {
  it('anchors the whole path: * stays within a segment, ** crosses segments', () => {
    expect(globToRegExp('*.txt').test('a.txt')).toBe(true)
    expect(globToRegExp('*.txt').test('dir/a.txt')).toBe(false)
    expect(globToRegExp('**/*.txt').test('dir/a.txt')).toBe(true)
    expect(globToRegExp('**/*.txt').test('a.txt')).toBe(true)
    expect(globToRegExp('release/**').test('release/1.0/a.bin')).toBe(true)
    expect(globToRegExp('release/**').test('releases/a.bin')).toBe(false)
    expect(globToRegExp('a?c').test('abc')).toBe(true)
    expect(globToRegExp('a?c').test('a/c')).toBe(false)
    expect(globToRegExp('{lib,bin}/x').test('bin/x')).toBe(true)
    expect(globToRegExp('{lib,bin}/x').test('src/x')).toBe(false)
    // Regex metacharacters in a glob are literal.
    expect(globToRegExp('a+b(1).tgz').test('a+b(1).tgz')).toBe(true)
    expect(globToRegExp('a.b').test('axb')).toBe(false)
  })

  it('package globs match the name the format hooks derive, else the path; tag globs the last segment', () => {
    const f = contentFilter({ packages: ['@acme/*'] })
    expect(f.path('@acme/x/-/x-1.0.0.tgz', '@acme/x')).toBe(true)
    expect(f.path('@acme/x/-/x-1.0.0.tgz', 'left-pad')).toBe(false)
    expect(f.path('@acme/raw.bin')).toBe(true)
    expect(contentFilter({ packages: ['com.acme:*'] }).path('com/acme/lib/1/lib-1.jar', 'com.acme:lib')).toBe(true)
    const t = contentFilter({ tags: ['latest', 'v1.*'] })
    expect(t.tag('dist-tag/pkg/latest')).toBe(true)
    expect(t.tag('dist-tag/pkg/next')).toBe(false)
    expect(t.tag('v1.2')).toBe(true)
  })
})

describe('replication settings', () => {
  it('defaults: eager for local, lazy for remote, every peer, no labels or filters', () => {
    expect(effectiveReplication('local', {})).toEqual({ mode: 'eager', peers: 'all', labels: {}, filters: {} })
    expect(effectiveReplication('remote', {}).mode).toBe('lazy')
    expect(effectiveReplication('local', { replication: { mode: 'local-only' } }).mode).toBe('local-only')
  })

  it('selects a node by peer ID and by all of the labels', () => {
    const self = { peerId: 'P1', labels: { region: 'eu', site: 'fra1' } }
    expect(selectsNode(effectiveReplication('local', { replication: { peers: ['P1'] } }), self)).toBe(true)
    expect(selectsNode(effectiveReplication('local', { replication: { peers: ['P2'] } }), self)).toBe(false)
    expect(selectsNode(effectiveReplication('local', { replication: { labels: { region: 'eu' } } }), self)).toBe(true)
    expect(selectsNode(effectiveReplication('local', { replication: { labels: { region: 'eu', site: 'ams1' } } }), self)).toBe(false)
  })
})

describe('applying events under replication settings (in process)', () => {
  it('a local-only repository appends under its own origin, outside the version vector and the state hash', async () => {
    const a = await node()
    const before = replicationState(a.store.db, a.store.log)
    a.store.repositories.create({ key: 'secret', format: 'generic', type: 'local', settings: { replication: { mode: 'local-only' } } })
    put(a.store, 'secret', 'x.txt', 'x')
    expect(allEvents(a)).toEqual([])
    expect(a.store.log.versionVector()).toEqual({})
    expect(a.store.log.sinceSigned(`local:${a.peerId}`, 0, 10)).toHaveLength(2)
    expect(replicationState(a.store.db, a.store.log).hash).toBe(before.hash)
  })

  it('switching a local-only repository to replicated announces it and its current artifacts', async () => {
    const a = await node()
    const b = await node()
    a.store.repositories.create({ key: 'r', format: 'generic', type: 'local', settings: { replication: { mode: 'local-only' } } })
    put(a.store, 'r', 'keep.txt', 'keep')
    put(a.store, 'r', 'gone.txt', 'gone')
    a.store.artifacts.delete('r', 'gone.txt')
    a.store.repositories.update('r', { settings: { replication: { mode: 'lazy' } } })
    const kinds = allEvents(a).map((e) => `${e.kind}:${e.path ?? ''}`)
    expect(kinds).toEqual(['repo.update:', 'artifact.put:keep.txt'])
    createEventApplier(b.store.db, b.store.log).apply(allEvents(a))
    expect(b.store.artifacts.get('r', 'keep.txt')?.sha256).toBe(computeDigests(Buffer.from('keep')).sha256)
    expect(b.store.artifacts.get('r', 'gone.txt')).toBeUndefined()
    expect(replicationState(b.store.db, b.store.log).hash).toBe(replicationState(a.store.db, a.store.log).hash)
  })

  it('a node not selected keeps the events and applies them once a settings change selects it', async () => {
    const a = await node()
    const b = await node()
    a.store.repositories.create({ key: 'r', format: 'generic', type: 'local', settings: { replication: { peers: [a.peerId] } } })
    put(a.store, 'r', 'one.txt', '1')
    const applier = createEventApplier(b.store.db, b.store.log, { self: { peerId: b.peerId, labels: {} } })
    expect(applier.apply(allEvents(a))).toBe(2)
    expect(b.store.repositories.get('r')).toBeUndefined()
    expect(b.store.log.versionVector()[a.peerId]).toBe(2) // held (and relayed) all the same
    a.store.repositories.update('r', { settings: { replication: { peers: [a.peerId, b.peerId] } } })
    applier.apply(allEvents(a))
    expect(b.store.artifacts.get('r', 'one.txt')).toBeDefined()
  })

  it('path filters: only matching paths are materialised; eager blobs are reported with their mode', async () => {
    const a = await node()
    const b = await node()
    a.store.repositories.create({ key: 'r', format: 'generic', type: 'local', settings: { replication: { filters: { paths: ['release/**'] } } } })
    put(a.store, 'r', 'release/1.0/app.bin', 'app')
    put(a.store, 'r', 'nightly/app.bin', 'nightly')
    const reported: RemoteBlob[] = []
    createEventApplier(b.store.db, b.store.log, { onRemoteBlobs: (l) => reported.push(...l) }).apply(allEvents(a))
    expect(b.store.artifacts.get('r', 'release/1.0/app.bin')).toBeDefined()
    expect(b.store.artifacts.get('r', 'nightly/app.bin')).toBeUndefined()
    expect(reported).toEqual([{ sha256: computeDigests(Buffer.from('app')).sha256, repo: 'r', mode: 'eager' }])
  })

  it('auto-create off: no repository until an admin creates it, then the held events apply', async () => {
    const a = await node()
    const b = await node()
    a.store.repositories.create({ key: 'r', format: 'generic', type: 'local' })
    put(a.store, 'r', 'a.txt', 'a')
    const applier = createEventApplier(b.store.db, b.store.log, { autoCreate: false })
    applier.apply(allEvents(a))
    expect(b.store.repositories.get('r')).toBeUndefined()
    b.store.repositories.create({ key: 'r', format: 'generic', type: 'local' })
    applier.rematerialise('r')
    expect(b.store.artifacts.get('r', 'a.txt')).toBeDefined()
  })
})

describe('flood guard and lag (pure logic)', () => {
  it('token buckets allow a burst then the sustained rate; streams per peer are capped', () => {
    let t = 0
    const g = createFloodGuard({ notifiesPerSecond: 2, notifyBurst: 3, maxStreamsPerPeer: 2 }, () => t)
    expect([1, 2, 3, 4].map(() => g.take('p', 'notify'))).toEqual([true, true, true, false])
    expect(g.take('q', 'notify')).toBe(true) // per peer
    t += 500
    expect(g.take('p', 'notify')).toBe(true)
    expect(g.take('p', 'notify')).toBe(false)
    expect(g.open('p') && g.open('p')).toBe(true)
    expect(g.open('p')).toBe(false)
    g.close('p')
    expect(g.open('p')).toBe(true)
  })

  it('lag: events and seconds behind from connected peers’ advertisements, back to 0 when caught up', () => {
    let t = 1_000_000
    const lag = createLagTracker(() => t)
    const latest = () => ({ hlcMs: t - 2000, receivedAt: t })
    lag.observe('B', { A: 10 }, { A: 7 })
    t += 3000
    const [r] = lag.report({ held: { A: 7 }, connected: ['B'], latest, self: 'me' })
    expect(r).toEqual({ origin: 'A', held: 7, advertised: 10, eventsBehind: 3, secondsBehind: 3, lastEventDelaySeconds: 2 })
    const [r2] = lag.report({ held: { A: 10 }, connected: ['B'], latest, self: 'me' })
    expect(r2?.eventsBehind).toBe(0)
    expect(r2?.secondsBehind).toBe(0)
    // A disconnected peer's advertisement no longer counts.
    lag.observe('C', { A: 20 }, { A: 10 })
    expect(lag.report({ held: { A: 10 }, connected: ['B'], latest, self: 'me' })[0]?.eventsBehind).toBe(0)
  })
})
