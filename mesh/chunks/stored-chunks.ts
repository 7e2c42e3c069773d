import type { Readable } from 'node:stream'
import type { BlobIndex, BlobStore } from '../../store/index.ts'
import type { ChunkManifest, LocalChunks } from '../../scheduler/index.ts'
import { chunkLength } from './messages.ts'

/** Manifests kept decoded (a chunk request checks its index against one). */
const MANIFEST_CACHE_SIZE = 64

/**
 * The complete blobs of the store as LocalChunks: 'all' for every blob the index records,
 * manifests from its chunk_manifest column, chunk bytes by ranged reads. Holds no partial
 * downloads (the scheduler's LocalChunks adds those, and may wrap this one).
 */
export function createStoredBlobChunks(blobs: BlobStore, blobIndex: BlobIndex): LocalChunks {
  const manifests = new Map<string, ChunkManifest>()
  const manifest = (sha256: string): ChunkManifest | undefined => {
    const cached = manifests.get(sha256)
    if (cached) return cached
    const record = blobIndex.get(sha256)
    if (!record) return undefined
    const raw = record.chunkManifest
    const chunks: string[] = []
    for (let at = 0; at + 32 <= raw.length; at += 32) chunks.push(raw.subarray(at, at + 32).toString('hex'))
    const m: ChunkManifest = { sha256, size: record.size, chunkSize: record.chunkSize, chunks }
    if (manifests.size >= MANIFEST_CACHE_SIZE) manifests.delete(manifests.keys().next().value as string)
    manifests.set(sha256, m)
    return m
  }
  return {
    have: (sha256) => (blobIndex.get(sha256) ? 'all' : undefined),
    manifest,
    async readChunk(sha256, index) {
      const m = manifest(sha256)
      if (!m) return undefined
      const length = chunkLength(m, index)
      if (length < 0) return undefined
      const start = index * m.chunkSize
      let stream: Readable
      try {
        stream = await blobs.open(sha256, { start, end: start + length - 1 })
      } catch {
        manifests.delete(sha256)
        return undefined
      }
      const out = Buffer.allocUnsafeSlow(length)
      let at = 0
      for await (const part of stream as AsyncIterable<Buffer>) {
        const n = Math.min(part.length, length - at)
        part.copy(out, at, 0, n)
        at += n
      }
      if (at !== length) throw new Error(`blob ${sha256} ended early reading chunk ${index} (${at} of ${length} bytes)`)
      return new Uint8Array(out.buffer, out.byteOffset, length)
    },
    // Complete blobs never grow; new ones are announced through the replication log.
    onHaveChange: () => () => {},
  }
}
