import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { MiB, api, download, makeBlobFile, metric, publishFile, type BlobFile } from './swarm-helpers.ts'

// limits.uploadMaxBytesPerSecond (AK_UPLOAD_MAX_BYTES_PER_SECOND) caps every blob byte a node
// sends, plain client GETs included (chunk serving to peers is covered by the throttled-sources
// tests). The swarm benchmark relies on it to give each node a real uplink.
const RATE = 4 * MiB
const SIZE = 8 * MiB

describe('node upload limit', () => {
  let node: NodeProcess
  let blob: BlobFile

  beforeAll(async () => {
    blob = await makeBlobFile(SIZE)
    node = await startNodeProcess({ env: { AK_UPLOAD_MAX_BYTES_PER_SECOND: String(RATE) } })
    const r = await api(node, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'files', format: 'generic' }) })
    expect(r.status).toBeLessThan(300)
    await publishFile(node, 'files', 'blob.bin', blob)
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    blob?.remove()
  })

  it('two concurrent GETs share one bucket: together they take about (2 × size) / rate, and every byte is counted', async () => {
    const before = await metric(node, 'ak_blob_egress_bytes_total', { path: 'http' })
    const t0 = performance.now()
    const [x, y] = await Promise.all([download(node, 'files', 'blob.bin'), download(node, 'files', 'blob.bin')])
    const seconds = (performance.now() - t0) / 1000
    expect(x.sha256).toBe(blob.sha256)
    expect(y.sha256).toBe(blob.sha256)
    // 16 MiB at 4 MiB/s: 4 s, less the bucket's initial burst (a quarter second of rate).
    expect(seconds).toBeGreaterThan((2 * SIZE) / RATE - 1)
    expect((await metric(node, 'ak_blob_egress_bytes_total', { path: 'http' })) - before).toBe(2 * SIZE)
  }, 60_000)
})
