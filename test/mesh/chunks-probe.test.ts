import { it } from 'vitest'
import { createChunkService, createLibp2pChunkSource, generateMeshKey, CHUNK_PROTOCOL } from '../../mesh/index.ts'
import { startPeer, storeWithBlob, storedChunks, waitConnected } from './chunks-helpers.ts'

it('probe', async () => {
  const key = generateMeshKey()
  const blob = await storeWithBlob(16 * 1024 * 1024)
  const a = await startPeer(key)
  const svc = createChunkService({ host: a.host, local: storedChunks(blob.store) })
  await svc.start()
  const b = await startPeer(key, { bootstrap: a.host.addresses() })
  await waitConnected(a, b)
  const src = createLibp2pChunkSource(b.host, a.identity.peerId)
  const t = async (name: string, n: number, f: () => Promise<unknown>) => {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) await f()
    console.log(name, ((performance.now() - t0) / n).toFixed(2), 'ms')
  }
  await t('openStream+abort', 50, async () => { const s = await b.host.openStream(a.identity.peerId, CHUNK_PROTOCOL); s.abort(new Error('x')) })
  await t('have', 50, () => src.have(blob.sha256, AbortSignal.timeout(5000)))
  await t('chunk', 16, () => src.fetchChunk(blob.sha256, 3, AbortSignal.timeout(5000)))
  svc.stop(); await a.stop(); await b.stop(); blob.close()
}, 60000)
