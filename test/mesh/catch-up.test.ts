import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMemoryDriver, openStore, type SignedEvent, type Store } from '../../store/index.ts'
import { ChainVerifier, createEventSigner, decodeServerMessage, encodeSyncMessage as encode, fromWire, isEventsMessage, serverMessage, toWire } from '../../mesh/index.ts'
import { createEventApplier, listConflicts, replicationState } from '../../store/index.ts'
import { tempDir } from '../helpers/node-process.ts'
import { computeDigests } from './digests.ts'

/*
 * The catch-up fast paths (mesh/sync): a hand-written check of the events message instead of zod,
 * a path's first event applied without reading the path back, several messages per transaction,
 * and the version vector by index seeks. Each must give exactly what the general path gives.
 */

async function node(): Promise<{ store: Store; peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key).toString()
  const store = openStore({ dataDir: tempDir('ak-catchup-'), driver: createMemoryDriver(), nodeId: peerId, sign: createEventSigner(key) })
  return { store, peerId }
}

const blob = (text: string) => computeDigests(Buffer.from(text))
const allEvents = (s: Store, origin: string): SignedEvent[] => s.log.sinceSigned(origin, 0, 100_000)

/** Verifies and applies `events` to `to` in batches of `size` (one transaction each). */
function applyInBatches(to: Store, events: SignedEvent[], size: number): void {
  const applier = createEventApplier(to.db, to.log)
  const chains = new ChainVerifier((o) => to.log.head(o))
  for (let i = 0; i < events.length; i += size) {
    const { accepted, error } = chains.verify(events.slice(i, i + size).map((e) => ({ ...e })))
    if (error) throw error
    applier.apply(accepted)
  }
}

describe('replication catch-up', () => {
  it('the events-message check accepts and refuses exactly what the zod schema does', async () => {
    const { store, peerId } = await node()
    store.repositories.create({ key: 'files', format: 'generic', type: 'local' })
    store.artifacts.put({ repo: 'files', path: 'a/b.txt', blob: blob('b'), overwrite: false })
    store.artifacts.delete('files', 'a/b.txt')
    const wire = allEvents(store, peerId).map((e) => toWire(e)!)
    const good = { type: 'events', events: wire }
    const first = wire[0]!
    const variants: unknown[] = [
      good,
      { type: 'events', events: [] },
      { type: 'events', events: Array.from({ length: 501 }, () => first) },
      { type: 'events', events: wire, extra: 1 },
      { type: 'done' },
      { type: 'done', versionVector: { [peerId]: 3 } },
      { type: 'other', events: wire },
      [good],
      null,
      'events',
    ]
    const mutations: Record<string, unknown>[] = [
      { origin: '' },
      { origin: 'has:colon' },
      { origin: 'x'.repeat(129) },
      { seq: 0 },
      { seq: 1.5 },
      { seq: '1' },
      { seq: Number.MAX_SAFE_INTEGER + 2 },
      { hlc: { ms: 1 } },
      { hlc: { ms: 1, counter: 0, extra: 1 } },
      { hlc: { ms: -1, counter: 0 } },
      { hlc: [1, 0] },
      { repo: '' },
      { repo: 'r'.repeat(257) },
      { kind: 'artifact.move' },
      { path: '' },
      { path: 'p'.repeat(4097) },
      { path: null },
      { sha256: 'A'.repeat(64) },
      { sha256: 'a'.repeat(63) },
      { sha256: null },
      { payload: 1 },
      { payload: '' },
      { signature: first.signature.replace(/==$/, '=') },
      { signature: `${first.signature.slice(0, 85)}-==` },
      { extra: true },
      { __proto__: null, chain: 'x' },
    ]
    for (const m of mutations) variants.push({ type: 'events', events: [...wire.slice(1), { ...first, ...m }] })
    for (const key of Object.keys(first)) {
      const rest: Record<string, unknown> = { ...first }
      delete rest[key]
      variants.push({ type: 'events', events: [rest] })
    }
    // JSON can carry a "__proto__" key as an own property: an unknown key like any other.
    variants.push(JSON.parse(`{"type":"events","events":[${JSON.stringify(first).replace(/^\{/, '{"__proto__":1,')}]}`))
    let accepted = 0
    for (const v of variants) {
      const viaZod = serverMessage.safeParse(v).success
      expect(isEventsMessage(v) && v !== null, JSON.stringify(v)?.slice(0, 200)).toBe(viaZod && (v as { type?: string }).type === 'events')
      const bytes = encode(v)
      if (viaZod) {
        expect(decodeServerMessage(bytes)).toEqual(serverMessage.parse(v))
        accepted++
      } else {
        expect(() => decodeServerMessage(bytes)).toThrow(/bad message/)
      }
    }
    expect(accepted).toBeGreaterThan(3)
    // And what decodes is what was sent.
    const decoded = decodeServerMessage(encode(good))
    expect(decoded.type === 'events' && decoded.events.map(fromWire).map((e) => Buffer.from(e.signature!).toString('base64'))).toEqual(wire.map((w) => w.signature))
  })

  it('applying one event per transaction, a few, or all at once gives the same state, conflicts and tombstones', async () => {
    const a = await node()
    const b = await node()
    for (const n of [a, b]) n.store.repositories.create({ key: 'files', format: 'generic', type: 'local', settings: { immutable: true } })
    // Conflicting immutable paths (different bytes on a and b), a delete, a re-put after the delete,
    // and paths that get several events within one batch or across batches.
    for (let i = 0; i < 30; i++) a.store.artifacts.put({ repo: 'files', path: `p/${i}.txt`, blob: blob(`a${i}`), overwrite: false })
    for (let i = 20; i < 40; i++) b.store.artifacts.put({ repo: 'files', path: `p/${i}.txt`, blob: blob(`b${i}`), overwrite: false })
    a.store.artifacts.delete('files', 'p/3.txt')
    a.store.artifacts.put({ repo: 'files', path: 'p/3.txt', blob: blob('again'), overwrite: false })
    a.store.artifacts.delete('files', 'p/4.txt')
    const fromA = allEvents(a.store, a.peerId)
    const fromB = allEvents(b.store, b.peerId)
    const states: string[] = []
    const conflicts: unknown[] = []
    for (const size of [1, 7, 500]) {
      const c = await node()
      applyInBatches(c.store, fromB, size)
      applyInBatches(c.store, fromA, size)
      // And again: idempotent.
      applyInBatches(c.store, fromA, size)
      const state = replicationState(c.store.db, c.store.log)
      expect(state.versionVector).toEqual({ [a.peerId]: fromA.length, [b.peerId]: fromB.length })
      expect(c.store.artifacts.get('files', 'p/3.txt')?.sha256).toBe(blob('again').sha256)
      expect(c.store.artifacts.get('files', 'p/4.txt')).toBeUndefined()
      states.push(state.hash)
      conflicts.push(listConflicts(c.store.db).map((x) => ({ ...x, detectedAt: 0 })))
    }
    expect(new Set(states).size).toBe(1)
    expect(conflicts[0]).toHaveLength(10)
    expect(conflicts[1]).toEqual(conflicts[0])
    expect(conflicts[2]).toEqual(conflicts[0])
  })

  it('a replicated first event of a path that this node already wrote locally does not take the fast path', async () => {
    const a = await node()
    const b = await node()
    for (const n of [a, b]) n.store.repositories.create({ key: 'files', format: 'generic', type: 'local', settings: { immutable: true } })
    // b wrote the path first (earlier HLC): its own bytes must win, and a's put is listed as the loser.
    b.store.artifacts.put({ repo: 'files', path: 'same.txt', blob: blob('mine'), overwrite: false })
    // A later millisecond, so a's HLC is above b's (within one, the peer IDs would decide).
    await new Promise((r) => setTimeout(r, 5))
    a.store.artifacts.put({ repo: 'files', path: 'same.txt', blob: blob('theirs'), overwrite: false })
    applyInBatches(b.store, allEvents(a.store, a.peerId), 500)
    expect(b.store.artifacts.get('files', 'same.txt')?.sha256).toBe(blob('mine').sha256)
    expect(listConflicts(b.store.db)).toMatchObject([{ path: 'same.txt', loser: { origin: a.peerId } }])
  })

  it('the version vector lists every replicated origin with its highest sequence, local-only origins left out', async () => {
    const a = await node()
    const b = await node()
    const c = await node()
    b.store.repositories.create({ key: 'mine', format: 'generic', type: 'local', settings: { replication: { mode: 'local-only' } } })
    b.store.artifacts.put({ repo: 'mine', path: 'x.txt', blob: blob('x'), overwrite: false })
    for (let i = 0; i < 3; i++) a.store.repositories.create({ key: `a${i}`, format: 'generic', type: 'local' })
    for (let i = 0; i < 5; i++) c.store.repositories.create({ key: `c${i}`, format: 'generic', type: 'local' })
    applyInBatches(b.store, allEvents(a.store, a.peerId), 2)
    applyInBatches(b.store, allEvents(c.store, c.peerId), 2)
    b.store.repositories.create({ key: 'shared', format: 'generic', type: 'local' })
    const grouped = Object.fromEntries(
      (b.store.db.prepare(`SELECT origin, MAX(seq) AS seq FROM events WHERE origin NOT LIKE 'local:%' GROUP BY origin`).all() as { origin: string; seq: number }[]).map((r) => [r.origin, r.seq]),
    )
    expect(b.store.log.versionVector()).toEqual(grouped)
    expect(b.store.log.versionVector()).toEqual({ [a.peerId]: 3, [b.peerId]: 1, [c.peerId]: 5 })
    expect((await node()).store.log.versionVector()).toEqual({})
  })
})
