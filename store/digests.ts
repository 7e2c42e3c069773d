import { createHash, type Hash } from 'node:crypto'
import { CHUNK_DIGEST_BYTES, CHUNK_SIZE } from './constants.ts'

/** The digests computed for every blob, in the same pass that writes it. */
export interface BlobDigests {
  sha256: string
  sha1: string
  md5: string
  sha512: string
  size: number
  /** sha256 of each CHUNK_SIZE chunk, concatenated (32 bytes each); the last chunk may be short. */
  chunkManifest: Buffer
}

export const SHA256_HEX = /^[a-f0-9]{64}$/
export const SHA1_HEX = /^[a-f0-9]{40}$/
export const MD5_HEX = /^[a-f0-9]{32}$/
export const SHA512_HEX = /^[a-f0-9]{128}$/

/**
 * Incremental hasher for all blob digests and the chunk manifest. Feed it the bytes in order;
 * it never keeps more than the hash states and the manifest (32 bytes per MiB).
 */
export class BlobHasher {
  private readonly sha256 = createHash('sha256')
  private readonly sha1 = createHash('sha1')
  private readonly md5 = createHash('md5')
  private readonly sha512 = createHash('sha512')
  private chunk: Hash = createHash('sha256')
  private chunkFill = 0
  private readonly chunkDigests: Buffer[] = []
  size = 0

  update(buf: Buffer): void {
    this.sha256.update(buf)
    this.sha1.update(buf)
    this.md5.update(buf)
    this.sha512.update(buf)
    this.size += buf.length
    let offset = 0
    while (offset < buf.length) {
      const take = Math.min(CHUNK_SIZE - this.chunkFill, buf.length - offset)
      this.chunk.update(offset === 0 && take === buf.length ? buf : buf.subarray(offset, offset + take))
      this.chunkFill += take
      offset += take
      if (this.chunkFill === CHUNK_SIZE) {
        this.chunkDigests.push(this.chunk.digest())
        this.chunk = createHash('sha256')
        this.chunkFill = 0
      }
    }
  }

  digest(): BlobDigests {
    if (this.chunkFill > 0) this.chunkDigests.push(this.chunk.digest())
    return {
      sha256: this.sha256.digest('hex'),
      sha1: this.sha1.digest('hex'),
      md5: this.md5.digest('hex'),
      sha512: this.sha512.digest('hex'),
      size: this.size,
      chunkManifest: Buffer.concat(this.chunkDigests),
    }
  }
}

/** Number of chunks in a blob of `size` bytes. */
export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_SIZE)
}

/** The digest of chunk `index` from a manifest. */
export function chunkDigest(manifest: Buffer, index: number): Buffer {
  return manifest.subarray(index * CHUNK_DIGEST_BYTES, (index + 1) * CHUNK_DIGEST_BYTES)
}

/** Expected digests a client may send with an upload (X-Checksum-*); all given ones must match. */
export interface ExpectedDigests {
  sha256?: string | undefined
  sha1?: string | undefined
  md5?: string | undefined
}
