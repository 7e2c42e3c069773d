import { createHash } from 'node:crypto'
import { CHUNK_SIZE, type BlobDigests } from '../../store/index.ts'

/** Digests of a small in-memory body, the way BlobStore.ingest computes them (for unit tests only). */
export function computeDigests(bytes: Buffer): BlobDigests {
  const h = (alg: string, b: Buffer) => createHash(alg).update(b).digest()
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i += CHUNK_SIZE) chunks.push(h('sha256', bytes.subarray(i, i + CHUNK_SIZE)))
  return {
    sha256: h('sha256', bytes).toString('hex'),
    sha1: h('sha1', bytes).toString('hex'),
    md5: h('md5', bytes).toString('hex'),
    sha512: h('sha512', bytes).toString('hex'),
    size: bytes.length,
    chunkManifest: Buffer.concat(chunks),
  }
}
