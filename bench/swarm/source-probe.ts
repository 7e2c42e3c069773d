/**
 * Diagnostic for the transport benchmark: how fast the HTTP chunk transport alone delivers a
 * blob from a holder (`ak serve`, no caps) to this process, at several pipeline depths, with no
 * scheduler, disk write or stream behind it — against a plain GET of the same blob.
 *   node bin/run-ts.mjs bench/swarm/source-probe.ts   (AK_BENCH_TRANSPORT_BYTES, default 256 MiB)
 * It signs peer tokens with the identity of a second (connected) node, read from its data dir,
 * and the mesh key (the holder asks tokens to prove it).
 */
import { createHash } from 'node:crypto'
import { Agent, request } from 'undici'
import { createHttpChunkSource, loadOrCreateIdentity, parseMeshKey } from '../../mesh/index.ts'
import { newMeshKey } from '../../test/mesh/mesh-helpers.ts'
import { createLazyRepo, makeBlobFile, MiB, publishFile, startSwarmNode, waitFullMesh, waitKnown, waitRepo } from '../../test/swarm/swarm-helpers.ts'

const BYTES = Number(process.env.AK_BENCH_TRANSPORT_BYTES ?? 256 * MiB)
const log = (line: string) => process.stdout.write(`${line}\n`)

const key = await newMeshKey()
const holder = await startSwarmNode(key, [])
const fetcher = await startSwarmNode(key, [holder])
try {
  await waitFullMesh([holder, fetcher])
  const blob = await makeBlobFile(BYTES)
  await createLazyRepo(holder.node, 'bench')
  await waitRepo(fetcher.node, 'bench', 30_000)
  await publishFile(holder.node, 'bench', 'big.bin', blob)
  await waitKnown(fetcher.node, 'bench', 'big.bin', 30_000)
  const identity = await loadOrCreateIdentity(fetcher.node.dataDir)
  const chunks = Math.ceil(BYTES / MiB)
  const plain = async () => {
    const t0 = performance.now()
    const res = await request(`${holder.node.url}/generic/bench/big.bin`, { headers: { authorization: holder.node.adminAuth } })
    for await (const _ of res.body) void _
    return BYTES / MiB / ((performance.now() - t0) / 1000)
  }
  log(`plain GET ${(await plain()).toFixed(1)} MiB/s`)
  for (const depth of [1, 2, 4, 8, 16]) {
    const dispatcher = new Agent({ connections: 64 })
    const source = createHttpChunkSource({ identity, peerId: holder.peerId, baseUrl: holder.node.url, dispatcher, psk: parseMeshKey(key) })
    let next = 0
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: depth }, async () => {
        while (next < chunks) {
          const i = next++
          const bytes = await source.fetchChunk(blob.sha256, i, AbortSignal.timeout(60_000))
          createHash('sha256').update(bytes).digest()
        }
      }),
    )
    log(`http chunks, depth ${depth}: ${(BYTES / MiB / ((performance.now() - t0) / 1000)).toFixed(1)} MiB/s`)
    await dispatcher.close()
  }
  log(`plain GET ${(await plain()).toFixed(1)} MiB/s`)
} finally {
  await Promise.all([holder.node.stop(), fetcher.node.stop()])
}
