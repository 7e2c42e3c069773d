import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  MiB,
  at,
  api,
  bytesByPeer,
  createLazyRepo,
  download,
  fsck,
  makeBlobFile,
  metric,
  publishFile,
  startCluster,
  waitTransferDone,
  waitKnown,
  waitRepo,
  waitHolders,
  type BlobFile,
  type Cluster,
} from './swarm-helpers.ts'

// Issue #5 acceptance: a peer that serves corrupted chunks (a real node process started with
// AK_FAULT_CORRUPT_CHUNKS=1: true manifests and have-maps, every chunk's bytes flipped). Every bad
// chunk is caught by its digest, the peer is dropped from the download and penalised, the
// download completes from the honest peer, and nothing wrong is committed.
const SIZE = 16 * MiB

interface PeerView {
  peerId: string
  failures: Record<string, number>
  penalty: { score: number; banned: boolean }
}

describe('swarm: a peer serving corrupted chunks', () => {
  let cluster: Cluster
  let blob: BlobFile

  beforeAll(async () => {
    blob = await makeBlobFile(SIZE)
    // 0 honest, 1 liar, 2 downloader.
    cluster = await startCluster(3, (i): Record<string, string> => (i === 1 ? { AK_FAULT_CORRUPT_CHUNKS: '1' } : {}))
    const [honest, liar, downloader] = [at(cluster, 0).node, at(cluster, 1).node, at(cluster, 2).node]
    await createLazyRepo(honest, 'files')
    await waitRepo(liar, 'files')
    await publishFile(honest, 'files', 'honest.bin', blob)
    await publishFile(liar, 'files', 'liar.bin', blob)
    await waitKnown(downloader, 'files', 'liar.bin')
    await waitKnown(downloader, 'files', 'honest.bin')
    await waitHolders(downloader, blob.sha256, [at(cluster, 0).peerId, at(cluster, 1).peerId])
  }, 180_000)

  afterAll(async () => {
    await cluster?.stop()
    blob?.remove()
  })

  it('every bad chunk is detected, the liar dropped and penalised, the download completes from the honest peer', async () => {
    const [honest, liar, downloader] = [at(cluster, 0), at(cluster, 1), at(cluster, 2)]
    expect(liar.node.output()).toContain('AK_FAULT_CORRUPT_CHUNKS')
    await waitHolders(downloader.node, blob.sha256, [honest.peerId, liar.peerId])
    const got = await download(downloader.node, 'files', 'liar.bin')
    expect(got.status).toBe(200)
    expect(got.sha256).toBe(blob.sha256)

    const t = await waitTransferDone(downloader.node, blob.sha256)
    const liarSources = t!.sources.filter((s) => s.peerId === liar.peerId)
    // The liar was asked (it holds the blob and says so), and every one of its transports was
    // dropped as corrupt without a single chunk of it accepted.
    expect(liarSources.length, JSON.stringify(t!.sources)).toBeGreaterThan(0)
    for (const s of liarSources) {
      expect(s.bytes, s.id).toBe(0)
      if (s.failures > 0) {
        expect(s.state, s.id).toBe('dropped')
        expect(s.reason, s.id).toBe('corrupt')
      }
    }
    const corruptSeen = liarSources.reduce((n, s) => n + s.failures, 0)
    expect(corruptSeen).toBeGreaterThanOrEqual(1)
    // Every failure counted is a corrupt chunk (the metric agrees with the transfer).
    expect(await metric(downloader.node, 'ak_swarm_chunks_failed_total', { reason: 'corrupt' })).toBe(corruptSeen)
    expect(bytesByPeer(t!).get(honest.peerId)).toBe(SIZE)
    expect(await metric(downloader.node, 'ak_swarm_bytes_total')).toBe(SIZE)

    // The liar is penalised in the downloader's view of its peers; the honest peer is not.
    const peers = (await api<{ peers: PeerView[] }>(downloader.node, '/api/v1/mesh/peers')).body.peers
    const liarView = peers.find((p) => p.peerId === liar.peerId)
    const honestView = peers.find((p) => p.peerId === honest.peerId)
    expect(liarView?.failures.corrupt).toBe(corruptSeen)
    expect(liarView?.penalty.score).toBeGreaterThan(0)
    expect(honestView?.failures.corrupt ?? 0).toBe(0)

    // Nothing wrong was committed: fsck rehashes the blob clean, and a second read serves it from disk.
    const report = await fsck(downloader.node)
    expect(report.problems.filter((p) => p.sha256 === blob.sha256)).toEqual([])
    const again = await download(downloader.node, 'files', 'honest.bin')
    expect(again.sha256).toBe(blob.sha256)
  }, 120_000)
})
