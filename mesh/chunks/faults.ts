import type { LocalChunks } from '../../scheduler/index.ts'

/**
 * TEST ONLY (AK_FAULT_CORRUPT_CHUNKS=1): the same holdings, but every chunk served to peers has
 * flipped bytes, so acceptance tests can run a real lying peer process. Manifests and have-maps
 * stay true: the lie is exactly what the requester must catch by checking chunk digests.
 */
export function corruptingLocalChunks(local: LocalChunks): LocalChunks {
  return {
    have: (sha256) => local.have(sha256),
    manifest: (sha256) => local.manifest(sha256),
    onHaveChange: (listener) => local.onHaveChange(listener),
    async readChunk(sha256, index) {
      const bytes = await local.readChunk(sha256, index)
      if (!bytes || bytes.length === 0) return bytes
      const bad = new Uint8Array(bytes) // a copy: never alter what the store handed out
      bad[0] = (bad[0] as number) ^ 0xff
      const middle = bad.length >> 1
      bad[middle] = (bad[middle] as number) ^ 0x5a
      return bad
    },
  }
}
