import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMemoryDriver, GENESIS_CHAIN, openStore, type SignedEvent, type Store } from '../../store/index.ts'
import { ChainVerifier, createEventSigner, SyncProtocolError, verifyEvent } from '../../mesh/index.ts'
import { createEventApplier, listConflicts, replicationState } from '../../store/index.ts'
import { tempDir } from '../helpers/node-process.ts'
import { computeDigests } from './digests.ts'

async function node(): Promise<{ store: Store; peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key).toString()
  const store = openStore({ dataDir: tempDir('ak-sig-'), driver: createMemoryDriver(), nodeId: peerId, sign: createEventSigner(key) })
  return { store, peerId }
}

describe('event signatures', () => {
  it('every appended event is signed by the origin and verifies', async () => {
    const { store, peerId } = await node()
    store.repositories.create({ key: 'files', format: 'generic', type: 'local' })
    const [e] = store.log.sinceSigned(peerId, 0, 10)
    expect(e?.signature?.length).toBe(64)
    expect(() => verifyEvent(e!, 1, GENESIS_CHAIN)).not.toThrow()
  })

  it('a relay that alters any field of an event is detected', async () => {
    const { store, peerId } = await node()
    store.repositories.create({ key: 'files', format: 'generic', type: 'local', settings: { immutable: true } })
    const e = store.log.sinceSigned(peerId, 0, 10)[0]!
    const tampered = [
      { ...e, payload: e.payload.replace('generic', 'npm') },
      { ...e, repo: 'other' },
      { ...e, hlc: { ms: e.hlc.ms - 1, counter: 0 } },
      { ...e, kind: 'repo.delete' as const },
      { ...e, signature: new Uint8Array(64) },
      { ...e, signature: null },
    ]
    for (const t of tampered) {
      expect(() => verifyEvent(t, 1, GENESIS_CHAIN)).toThrow(SyncProtocolError)
    }
    // Re-signed by someone else, but claiming the original origin: still refused.
    const other = await node()
    other.store.repositories.create({ key: 'files', format: 'generic', type: 'local', settings: { immutable: true } })
    const forged = { ...other.store.log.sinceSigned(other.peerId, 0, 1)[0]!, origin: peerId }
    expect(() => verifyEvent(forged, 1, GENESIS_CHAIN)).toThrow(SyncProtocolError)
  })

  it('refuses a gap in an origin’s sequence numbers', async () => {
    const { store, peerId } = await node()
    store.repositories.create({ key: 'a', format: 'generic', type: 'local' })
    store.repositories.create({ key: 'b', format: 'generic', type: 'local' })
    const second = store.log.sinceSigned(peerId, 1, 1)[0]!
    expect(() => verifyEvent(second, 1, GENESIS_CHAIN)).toThrow(/out of order/)
  })
  it('a batch is vouched for by its last signature along the hash chain, and an altered event keeps only the valid prefix', async () => {
    const { store, peerId } = await node()
    for (let i = 0; i < 20; i++) store.repositories.create({ key: `r${i}`, format: 'generic', type: 'local' })
    const events = store.log.sinceSigned(peerId, 0, 100)
    expect(events).toHaveLength(20)
    const genesis = () => ({ seq: 0, chain: GENESIS_CHAIN })
    const all = new ChainVerifier(genesis).verify(events.map((e) => ({ ...e })))
    expect(all.error).toBeUndefined()
    expect(all.accepted).toHaveLength(20)
    // The chain each receiver computes is the one the origin stored.
    expect(Buffer.from(all.accepted[19]!.chain!)).toEqual(Buffer.from(store.log.head(peerId).chain))
    // Event #8's payload altered by a relay: #1–#7 are still applied, #8 onwards refused as forged,
    // although only #20 carries the signature that was checked first.
    const altered: SignedEvent[] = events.map((e) => ({ ...e }))
    altered[7] = { ...altered[7]!, payload: altered[7]!.payload.replace('generic', 'npm') }
    const check = new ChainVerifier(genesis).verify(altered)
    expect(check.accepted.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(check.error).toBeInstanceOf(SyncProtocolError)
    expect(check.error?.reason).toBe('forged')
    // A forged signature on the last event alone: everything before it stands.
    const lastForged = events.map((e) => ({ ...e }))
    lastForged[19] = { ...lastForged[19]!, signature: new Uint8Array(64) }
    expect(new ChainVerifier(genesis).verify(lastForged).accepted).toHaveLength(19)
    // A batch that does not continue the held head is refused whole.
    expect(new ChainVerifier(genesis).verify(events.slice(1).map((e) => ({ ...e }))).accepted).toHaveLength(0)
  })
})

describe('applying replicated events', () => {
  it('an immutable path published with different bytes on two nodes resolves to the same winner on both', async () => {
    const x = await node()
    const y = await node()
    for (const n of [x, y]) n.store.repositories.create({ key: 'files', format: 'generic', type: 'local', settings: { immutable: true } })
    const put = (n: Store, text: string) =>
      n.artifacts.put({ repo: 'files', path: 'a.txt', blob: computeDigests(Buffer.from(text)), overwrite: false })
    put(x.store, 'from x')
    put(y.store, 'from y')
    // Exchange everything both ways (repo.create events too: LWW, same content).
    const xEvents = x.store.log.sinceSigned(x.peerId, 0, 100)
    const yEvents = y.store.log.sinceSigned(y.peerId, 0, 100)
    createEventApplier(x.store.db, x.store.log).apply(yEvents)
    createEventApplier(y.store.db, y.store.log).apply(xEvents)
    const sx = replicationState(x.store.db, x.store.log)
    const sy = replicationState(y.store.db, y.store.log)
    expect(sx.hash).toBe(sy.hash)
    const winner = x.store.artifacts.get('files', 'a.txt')!.sha256
    expect(y.store.artifacts.get('files', 'a.txt')!.sha256).toBe(winner)
    const cx = listConflicts(x.store.db)
    expect(cx).toHaveLength(1)
    expect(cx[0]!.winner.sha256).toBe(winner)
    expect(cx[0]!.loser.sha256).not.toBe(winner)
    expect(listConflicts(y.store.db)).toEqual(cx.map((c) => ({ ...c, detectedAt: expect.any(Number) })))
    // Applying the same events again changes nothing (idempotent).
    expect(createEventApplier(x.store.db, x.store.log).apply(yEvents)).toBe(0)
    expect(replicationState(x.store.db, x.store.log).hash).toBe(sx.hash)
  })
})
