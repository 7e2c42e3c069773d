import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryDriver, openStore, type Store } from '../../store/index.ts'
import {
  BLOOM_MAX_BYTES,
  blobCid,
  bloomBytesFor,
  bloomOver,
  createBloomFilter,
  decodeHave,
  encodeHave,
  HaveProtocolError,
  sha256OfCid,
} from '../../mesh/index.ts'
import { tempDir } from '../helpers/node-process.ts'

const digest = (i: number | string) => createHash('sha256').update(String(i)).digest('hex')

describe('content location: blob CIDs', () => {
  it('names a blob by a CIDv1 with the raw codec and the sha2-256 multihash of its digest', () => {
    // sha256 of the empty string, and its CID as IPFS tools print it (raw leaves, base32).
    const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    const cid = blobCid(empty)
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(0x55)
    expect(cid.multihash.code).toBe(0x12)
    expect(cid.toString()).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
    expect(sha256OfCid(cid)).toBe(empty)
  })

  it('refuses anything but a lower-case sha256 hex digest', () => {
    expect(() => blobCid('xyz')).toThrow(TypeError)
    expect(() => blobCid(digest(1).toUpperCase())).toThrow(TypeError)
  })
})

describe('content location: Bloom filter have-summaries', () => {
  it('has no false negatives and about 1% false positives at the default sizing', () => {
    const n = 20_000
    const bloom = createBloomFilter(bloomBytesFor(n))
    for (let i = 0; i < n; i++) bloom.add(digest(i))
    for (let i = 0; i < n; i++) expect(bloom.has(digest(i))).toBe(true)
    let falsePositives = 0
    const trials = 20_000
    for (let i = 0; i < trials; i++) if (bloom.has(digest(`absent-${i}`))) falsePositives++
    expect(falsePositives / trials).toBeLessThan(0.02)
    expect(falsePositives).toBeGreaterThan(0) // a filter that says no to everything would pass the line above
  })

  it('survives the wire: a filter rebuilt from its bytes answers the same', () => {
    const a = createBloomFilter(256)
    const held = Array.from({ length: 100 }, (_, i) => digest(i))
    for (const d of held) a.add(d)
    const b = bloomOver(new Uint8Array(Buffer.from(Buffer.from(a.bytes).toString('base64'), 'base64')), a.hashes)
    for (const d of held) expect(b.has(d)).toBe(true)
    for (let i = 0; i < 200; i++) expect(b.has(digest(`x${i}`))).toBe(a.has(digest(`x${i}`)))
  })

  it('caps the filter size however many blobs there are', () => {
    expect(bloomBytesFor(0)).toBeGreaterThan(0)
    expect(bloomBytesFor(100_000_000)).toBe(BLOOM_MAX_BYTES)
  })
})

describe('content location: have messages', () => {
  it('round-trips a valid delta and refuses malformed ones', () => {
    const msg = { type: 'delta' as const, add: [digest(1)], remove: [digest(2)], load: 3 }
    expect(decodeHave(encodeHave(msg))).toEqual(msg)
    const bad = (v: unknown) => () => decodeHave(new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v)))
    expect(bad('{not json')).toThrow(HaveProtocolError)
    expect(bad({ type: 'delta', add: ['nothex'], remove: [], load: 0 })).toThrow(HaveProtocolError)
    expect(bad({ type: 'delta', add: [], remove: [], load: -1 })).toThrow(HaveProtocolError)
    expect(bad({ type: 'status', labels: {}, load: 0, extra: 1 })).toThrow(HaveProtocolError)
    expect(bad({ type: 'delta', add: Array.from({ length: 1025 }, (_, i) => digest(i)), remove: [], load: 0 })).toThrow(HaveProtocolError)
    expect(bad({ type: 'summary', blobs: 1, bloom: { hashes: 7, bits: 'AAAA' }, labels: {}, load: 0 })).toThrow(HaveProtocolError)
  })
})

describe('content location: the blob change feed (migration 083)', () => {
  let store: Store | undefined
  afterEach(() => store?.close())

  function blobRow(sha256: string) {
    return { sha256, size: 1, sha1: 'a'.repeat(40), md5: 'b'.repeat(32), sha512: 'c'.repeat(128), chunkManifest: Buffer.alloc(32) }
  }

  it('reports blobs recorded, blobs forgotten, and replicated rows without bytes as not held', async () => {
    store = openStore({ dataDir: tempDir('ak-content-'), driver: createMemoryDriver(), nodeId: 'test' })
    const holdings = store.holdings
    const start = holdings.head()
    const [a, b, c] = [digest('a'), digest('b'), digest('c')]
    store.blobIndex.record(blobRow(a))
    store.blobIndex.record(blobRow(b))
    store.blobIndex.record(blobRow(a)) // a refresh (touched_at) is no change
    // A replicated blob row whose bytes are elsewhere: known, not held.
    store.blobIndex.record(blobRow(c))
    store.db.prepare('INSERT INTO remote_blobs (sha256, origin, recorded_at) VALUES (?, ?, ?)').run(c, 'peer', Date.now())
    store.blobIndex.forget(b)
    const r = holdings.changesSince(start, 100)
    expect(r.gap).toBe(false)
    expect(r.changes).toEqual([
      { sha256: a, held: true },
      { sha256: b, held: false },
      { sha256: c, held: false },
    ])
    expect(holdings.count()).toBe(1)
    expect(holdings.page('', 10)).toEqual([a])
    // The bytes of c arrive: held from now on.
    store.db.prepare('DELETE FROM remote_blobs WHERE sha256 = ?').run(c)
    const r2 = holdings.changesSince(r.next, 100)
    expect(r2.changes).toEqual([{ sha256: c, held: true }])
    holdings.trim(r2.next)
    expect(holdings.changesSince(start, 100).changes).toEqual([])
    expect(holdings.head()).toBe(r2.next)
  })

  it('signals a gap when the feed was trimmed before it was read', async () => {
    store = openStore({ dataDir: tempDir('ak-content-'), driver: createMemoryDriver(), nodeId: 'test' })
    const holdings = store.holdings
    store.blobIndex.record(blobRow(digest('one')))
    const cursor = holdings.head()
    store.blobIndex.record(blobRow(digest('two')))
    store.blobIndex.record(blobRow(digest('three')))
    store.db.prepare('DELETE FROM blob_changes WHERE seq <= ?').run(cursor + 1) // as the bound trigger would
    expect(holdings.changesSince(cursor, 100).gap).toBe(true)
  })
})
