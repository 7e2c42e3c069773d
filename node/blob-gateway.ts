import type { Readable } from 'node:stream'
import type { BlobDigests, BlobIndex, BlobStore, ByteRange, DriverObject, RemoteBlobs, ExpectedDigests, IngestOptions } from '../store/index.ts'
import type { Scheduler } from '../scheduler/index.ts'

/**
 * The BlobStore the formats get: the node's store, except that a blob the metadata knows but
 * whose bytes are elsewhere (a blob row plus a remote_blobs row, from a replicated event) is
 * opened through the swarm scheduler. Every format then serves lazily replicated artifacts with
 * no change of its own: the bytes stream to the client as the chunks verify, and the blob is
 * committed locally for the next request.
 */
export function createBlobGateway(blobs: BlobStore, blobIndex: BlobIndex, remoteBlobs: RemoteBlobs, scheduler: Scheduler): BlobStore {
  const isRemote = (sha256: string): boolean => remoteBlobs.has(sha256)
  /** Bytes that arrive by upload make a remote blob a local one. */
  const held = (d: BlobDigests): BlobDigests => {
    remoteBlobs.forget(d.sha256)
    return d
  }
  return {
    get driver() {
      return blobs.driver
    },
    ingest: async (source: Readable, options?: IngestOptions) => held(await blobs.ingest(source, options)),
    adopt: async (filePath: string, digests: BlobDigests, expected?: ExpectedDigests) => held(await blobs.adopt(filePath, digests, expected)),
    open(sha256: string, range?: ByteRange): Promise<Readable> {
      return isRemote(sha256) ? scheduler.open(sha256, range) : blobs.open(sha256, range)
    },
    async stat(sha256: string): Promise<DriverObject | undefined> {
      const stat = await blobs.stat(sha256)
      if (stat || !isRemote(sha256)) return stat
      // Known and fetchable: report it as the metadata describes it (open() fetches the bytes).
      const row = blobIndex.get(sha256)
      return row ? { key: sha256, size: row.size, mtimeMs: row.createdAt } : undefined
    },
    delete: (sha256: string) => blobs.delete(sha256),
    list: () => blobs.list(),
    rehash: (sha256: string) => blobs.rehash(sha256),
    cleanTemp: () => blobs.cleanTemp(),
    checkSpace: (bytes?: number) => blobs.checkSpace(bytes),
  }
}
