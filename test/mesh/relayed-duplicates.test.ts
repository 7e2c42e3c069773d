import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMemoryDriver, openStore, type SignedEvent } from '../../store/index.ts'
import { ChainVerifier, createEventSigner } from '../../mesh/index.ts'
import { createEventApplier } from '../../store/index.ts'
import { tempDir } from '../helpers/node-process.ts'

async function store() {
  const key = await generateKeyPair('Ed25519')
  return openStore({ dataDir: tempDir('ak-dup-'), driver: createMemoryDriver(), nodeId: peerIdFromPrivateKey(key).toString(), sign: createEventSigner(key) })
}

describe('events of one origin relayed by two peers at once', () => {
  // Regression: a node pulling one origin's events from that origin and from a relay at the same
  // time refused the relay's events it had meanwhile applied from the origin as "out of order",
  // penalised the peer, and after a few batches disconnected it (an npm install through three
  // meshed edges lost the edge that held the bytes, and edge 2's install hung).
  it('skips events already held since the pull began, and accepts what continues the chain', async () => {
    const origin = await store()
    const receiver = await store()
    for (let i = 0; i < 30; i++) origin.repositories.create({ key: `r${i}`, format: 'generic', type: 'local' })
    const all = origin.log.sinceSigned(origin.log.origin, 0, 100)
    const apply = createEventApplier(receiver.db, receiver.log)
    const verifierOf = () => new ChainVerifier((o) => receiver.log.head(o))

    apply.apply(verifierOf().verify(all.slice(0, 10).map((e) => ({ ...e }))).accepted)
    // Pull A (from the relay) and pull B (from the origin) both ask while #1–#10 are held.
    const pullA = verifierOf()
    const pullB = verifierOf()
    const a1 = pullA.verify(all.slice(10, 12).map((e) => ({ ...e })))
    expect(a1.accepted.map((e) => e.seq)).toEqual([11, 12])
    apply.apply(a1.accepted)
    // B answers from #11: #11–#12 arrived through A meanwhile.
    const b = pullB.verify(all.slice(10, 20).map((e) => ({ ...e })))
    expect(b.error).toBeUndefined()
    expect(b.accepted.map((e) => e.seq)).toEqual([13, 14, 15, 16, 17, 18, 19, 20])
    apply.apply(b.accepted)
    // A's next batch, #13–#25, overlaps what B applied.
    const a2 = pullA.verify(all.slice(12, 25).map((e) => ({ ...e })) as SignedEvent[])
    expect(a2.error).toBeUndefined()
    expect(a2.accepted.map((e) => e.seq)).toEqual([21, 22, 23, 24, 25])
    apply.apply(a2.accepted)
    expect(receiver.log.head(origin.log.origin).seq).toBe(25)
  })

  it('still refuses a gap', async () => {
    const origin = await store()
    const receiver = await store()
    for (let i = 0; i < 5; i++) origin.repositories.create({ key: `r${i}`, format: 'generic', type: 'local' })
    const all = origin.log.sinceSigned(origin.log.origin, 0, 100)
    const check = new ChainVerifier((o) => receiver.log.head(o)).verify(all.slice(2).map((e) => ({ ...e })))
    expect(check.accepted).toHaveLength(0)
    expect(check.error?.message).toMatch(/out of order/)
  })
})
