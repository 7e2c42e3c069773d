import { Transform, type Readable, type TransformCallback } from 'node:stream'
import type { BlobStore, ByteRange } from '../store/index.ts'
import { chunkBounds, createTokenBucket, haveHas, type LocalChunks, type TokenBucket } from '../scheduler/index.ts'

/**
 * The node's upload limit (limits.uploadMaxBytesPerSecond, AK_UPLOAD_MAX_BYTES_PER_SECOND): one
 * token bucket on every blob byte the node sends — chunks served to mesh peers (libp2p and the
 * HTTP chunk routes read the same LocalChunks) and blobs streamed to clients by the formats.
 * Both paths take from the same bucket, so a node's uplink is shared as on a real link. Every
 * byte is also counted (ak_blob_egress_bytes_total{path}), limit or not.
 */
export interface UploadLimit {
  readonly bucket: TokenBucket
  /** Counts `bytes` sent on `path`. */
  sent(path: 'chunks' | 'http', bytes: number): void
}

export function createUploadLimit(bytesPerSecond: number, sent: UploadLimit['sent'] = () => {}): UploadLimit {
  return { bucket: createTokenBucket(bytesPerSecond), sent }
}

/** `local` whose chunk reads wait for the upload bucket before they are handed to a peer. */
export function limitServedChunks(local: LocalChunks, limit: UploadLimit): LocalChunks {
  return {
    have: (sha256) => local.have(sha256),
    manifest: (sha256) => local.manifest(sha256),
    onHaveChange: (listener) => local.onHaveChange(listener),
    async readChunk(sha256, index) {
      // Wait before reading, so chunks queued behind the limit are not held in memory meanwhile.
      const manifest = local.manifest(sha256)
      const have = local.have(sha256)
      const waited = manifest !== undefined && have !== undefined && haveHas(have, index) ? chunkBounds(manifest.size, index) : undefined
      const length = waited ? Math.max(0, waited.end - waited.start) : 0
      if (length > 0) await limit.bucket.take(length)
      const bytes = await local.readChunk(sha256, index)
      if (!bytes) return bytes
      if (bytes.length > length) await limit.bucket.take(bytes.length - length)
      limit.sent('chunks', bytes.length)
      return bytes
    },
  }
}

/** Passes bytes through as the bucket allows (backpressure: the next read waits for the take). */
class UploadThrottle extends Transform {
  constructor(private readonly limit: UploadLimit) {
    super()
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.limit.bucket.bytesPerSecond === 0) {
      this.limit.sent('http', chunk.length)
      callback(null, chunk)
      return
    }
    this.limit.bucket.take(chunk.length).then(
      () => {
        this.limit.sent('http', chunk.length)
        callback(null, chunk)
      },
      (err: unknown) => callback(err as Error),
    )
  }
}

/** `blobs` whose open() streams through the upload bucket (what the formats send to clients). */
export function limitBlobReads(blobs: BlobStore, limit: UploadLimit): BlobStore {
  const open = async (sha256: string, range?: ByteRange): Promise<Readable> => {
    const source = await blobs.open(sha256, range)
    const throttled = new UploadThrottle(limit)
    // Errors and early ends travel both ways: a client that goes away stops the read.
    source.on('error', (err) => throttled.destroy(err))
    throttled.on('close', () => source.destroy())
    return source.pipe(throttled)
  }
  return new Proxy(blobs, {
    get(target, prop, receiver) {
      if (prop === 'open') return open
      const value: unknown = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
}
