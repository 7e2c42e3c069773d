/**
 * The metadata ports' conformance suite (store/README.md): what every implementation of the
 * Store ports must do, whatever database is behind them. metadata-sqlite.test.ts runs it on the
 * embedded SQLite store; a second backend (PostgreSQL) registers its own run of it.
 */
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ImmutableArtifactError, type BlobDigests, type SignedEvent, type Store } from '../../store/index.ts'

export interface MetadataHarness {
  /** A new, empty store of node `nodeId` whose events are signed (bundles carry only signed events). */
  open(nodeId: string): Promise<Store>
  /** Releases everything open() made. */
  close(): Promise<void>
}

const ingest = (store: Store, text: string): Promise<BlobDigests> => store.blobs.ingest(Readable.from([Buffer.from(text)]))

/** Every event `from` holds, as replication sends them. */
function allEvents(from: Store): SignedEvent[] {
  return Object.keys(from.log.versionVector()).flatMap((origin) => from.log.sinceSigned(origin, 0, 10_000))
}

export function metadataConformance(name: string, harness: () => MetadataHarness): void {
  describe(`metadata ports conformance: ${name}`, () => {
    let h: MetadataHarness
    let a: Store
    let b: Store
    beforeEach(async () => {
      h = harness()
      a = await h.open('node-a')
      b = await h.open('node-b')
    })
    afterEach(async () => {
      await h.close()
    })

    it('repositories and artifacts: a put is read back, listed, counted, and appends one event each', async () => {
      a.repositories.create({ key: 'files', format: 'generic', type: 'local' })
      const blob = await ingest(a, 'hello')
      const put = a.artifacts.put({ repo: 'files', path: 'dir/x.txt', blob, overwrite: false })
      expect(put.created).toBe(true)
      expect(a.artifacts.get('files', 'dir/x.txt')?.sha256).toBe(blob.sha256)
      expect(a.artifacts.list('files', 'dir').files.map((f) => f.path)).toEqual(['dir/x.txt'])
      expect(a.artifacts.count('files')).toBe(1)
      expect(a.log.versionVector()).toEqual({ 'node-a': 2 })
      // An immutable path refuses other bytes and accepts the same bytes again (no new event).
      const other = await ingest(a, 'other')
      expect(() => a.artifacts.put({ repo: 'files', path: 'dir/x.txt', blob: other, overwrite: false })).toThrow(ImmutableArtifactError)
      a.artifacts.put({ repo: 'files', path: 'dir/x.txt', blob, overwrite: false })
      expect(a.log.count()).toBe(2)
    })

    it('a transaction that throws leaves nothing: no artifact, no event', async () => {
      a.repositories.create({ key: 'files', format: 'generic', type: 'local' })
      const blob = await ingest(a, 'data')
      expect(() =>
        a.artifacts.transaction(() => {
          a.artifacts.put({ repo: 'files', path: 'y', blob, overwrite: false })
          throw new Error('abort')
        }),
      ).toThrow('abort')
      expect(a.artifacts.get('files', 'y')).toBeUndefined()
      expect(a.log.count()).toBe(1)
    })

    it('replicated events: applied once, the same state hash on both nodes, blobs remote until their bytes arrive', async () => {
      a.repositories.create({ key: 'files', format: 'generic', type: 'local' })
      const blob = await ingest(a, 'replicated bytes')
      a.artifacts.put({ repo: 'files', path: 'r.bin', blob, overwrite: false })
      a.artifacts.transaction(() => a.pointers.set('files', 'latest', { to: 'r.bin' }))
      const events = allEvents(a)
      const applier = b.replicated.applier()
      expect(applier.apply(events)).toBe(events.length)
      expect(applier.apply(events)).toBe(0)
      expect(b.artifacts.get('files', 'r.bin')?.sha256).toBe(blob.sha256)
      expect(b.pointers.get('files', 'latest')?.value).toEqual({ to: 'r.bin' })
      expect(b.replicated.state().hash).toBe(a.replicated.state().hash)
      expect(b.log.versionVector()).toEqual(a.log.versionVector())
      // B knows the blob from the event, not its bytes.
      expect(b.remoteBlobs.has(blob.sha256)).toBe(true)
      expect(b.holdings.holds(blob.sha256)).toBe(false)
      const head = b.holdings.head()
      await ingest(b, 'replicated bytes')
      b.remoteBlobs.arrived(blob.sha256)
      expect(b.remoteBlobs.has(blob.sha256)).toBe(false)
      expect(b.holdings.holds(blob.sha256)).toBe(true)
      expect(b.holdings.changesSince(head, 100).changes).toContainEqual({ sha256: blob.sha256, held: true })
      expect(a.holdings.page('', 10)).toContain(blob.sha256)
    })

    it('pointers: the later write wins on every node, whatever order the events arrive in', async () => {
      a.repositories.create({ key: 'p', format: 'generic', type: 'local' })
      b.replicated.applier().apply(allEvents(a))
      a.artifacts.transaction(() => a.pointers.set('p', 'tag', 'from-a'))
      await new Promise((r) => setTimeout(r, 5))
      b.artifacts.transaction(() => b.pointers.set('p', 'tag', 'from-b'))
      const fromA = allEvents(a)
      const fromB = allEvents(b)
      b.replicated.applier().apply(fromA)
      a.replicated.applier().apply(fromB)
      expect(a.pointers.get('p', 'tag')?.value).toBe('from-b')
      expect(b.pointers.get('p', 'tag')?.value).toBe('from-b')
      expect(a.replicated.state().hash).toBe(b.replicated.state().hash)
    })

    it('a staged import applies in one step, and a dry run reports the same changes and keeps nothing', async () => {
      a.repositories.create({ key: 'bundle', format: 'generic', type: 'local' })
      const blob = await ingest(a, 'bundled')
      a.artifacts.put({ repo: 'bundle', path: 'b.txt', blob, overwrite: false })
      const stage = (): ReturnType<Store['replicated']['stageImport']> => {
        const staged = b.replicated.stageImport()
        for (const e of allEvents(a)) staged.event({ ...e, chain: e.chain ?? new Uint8Array(32) })
        staged.blob({ ...blob, stored: false })
        return staged
      }
      const before = b.replicated.state().hash
      const dry = stage()
      const report = dry.apply({ dryRun: true })
      dry.clear()
      expect(report.repositories.created).toEqual(['bundle'])
      expect(report.artifacts.list.added).toEqual(['bundle/b.txt'])
      expect(report.newEvents).toBe(2)
      expect(b.replicated.state().hash).toBe(before)
      expect(b.repositories.get('bundle')).toBeUndefined()
      expect(b.blobIndex.get(blob.sha256)).toBeUndefined()

      const real = stage()
      const applied = real.apply({ dryRun: false })
      real.clear()
      expect(applied).toEqual({ ...report, state: { before, after: a.replicated.state().hash } })
      expect(b.artifacts.get('bundle', 'b.txt')?.sha256).toBe(blob.sha256)
      expect(b.blobIndex.get(blob.sha256)?.size).toBe(blob.size)
      expect(b.remoteBlobs.has(blob.sha256)).toBe(false)
    })

    it('peer profiles round-trip, an upsert replaces the row', async () => {
      const profile = {
        peerId: 'peer-1',
        addresses: ['/ip4/127.0.0.1/tcp/1'],
        labels: { site: 'x' },
        rtt: { rttMs: 12, jitterMs: 3, samples: 4 },
        throughput: { libp2p: { bytesPerSecond: 1000, samples: 2 } },
        failures: { timeout: 1 },
        lastSeen: 5,
        updatedAt: 6,
      }
      a.peerProfiles.save([profile])
      a.peerProfiles.save([{ ...profile, labels: { site: 'y' }, updatedAt: 7 }])
      expect(a.peerProfiles.loadAll()).toEqual([{ ...profile, labels: { site: 'y' }, updatedAt: 7 }])
    })

    it('check() answers, and fsck finds the stored blobs sound', async () => {
      a.repositories.create({ key: 'files', format: 'generic', type: 'local' })
      a.artifacts.put({ repo: 'files', path: 'f', blob: await ingest(a, 'sound'), overwrite: false })
      expect(() => a.check()).not.toThrow()
      const report = await a.fsck()
      expect(report.problems).toEqual([])
      expect(report.blobsChecked).toBe(1)
    })
  })
}
