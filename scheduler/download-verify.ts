/*
 * Verify and commit, for one download: the in-order hash pass over the verified prefix (the
 * whole-blob sha256, or every digest of a blob without a row; resumed chunks re-verified), then
 * the commit — the whole blob checked against its sha256, adopted into the blob store, the
 * remote_blobs row removed.
 */
import { createHash, type Hash } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { createParallelHasher, DigestMismatchError, type BlobDigests, type BlobRecord, type ParallelBlobHasher } from '../store/index.ts'
import type { DownloadRun } from './download-context.ts'
import type { ReaderSet } from './download-readers.ts'
import type { SourceSet, SourceState } from './download-sources.ts'
import type { PartialFile } from './partial.ts'
import type { ChunkManifest } from './types.ts'

export class BlobVerifier {
  /** Resumed chunks the in-order pass has not re-verified yet (not served to readers before). */
  readonly unverified = new Set<number>()
  /** Chunks [0, cursor) are hashed (or, with a trusted manifest, known good). */
  cursor = 0
  private fresh: { index: number; bytes: Uint8Array } | undefined
  private sha256Hash: Hash | undefined
  private fullHasher: ParallelBlobHasher | undefined
  private running = false
  private again = false
  private manifest: ChunkManifest | undefined
  private partial: PartialFile | undefined
  private trusted = false

  constructor(
    private readonly run: DownloadRun,
    private readonly row: BlobRecord | undefined,
    private readonly sources: SourceSet,
    private readonly readers: ReaderSet,
    /** The hash pass failed: the download fails. */
    private readonly fatal: (err: Error) => void,
  ) {}

  /**
   * The manifest and the partial file are known. Chunks already held (a resumed download) are
   * re-verified by the hash pass before they are served. A trusted manifest (a signed event's, or
   * the local row's) with every chunk verified against it determines the blob: no whole-blob hash
   * (it re-read every out-of-order chunk from disk). A row without a complete manifest hashes the
   * sha256; a row-less blob computes every digest.
   */
  begin(manifest: ChunkManifest, partial: PartialFile, trusted: boolean): void {
    this.manifest = manifest
    this.partial = partial
    this.trusted = trusted
    for (let i = 0; i < manifest.chunks.length; i++) if (partial.has(i)) this.unverified.add(i)
    if (!trusted) {
      if (this.row) this.sha256Hash = createHash('sha256')
      else this.fullHasher = createParallelHasher()
    }
  }

  /** Every chunk is held and hashed. */
  get finished(): boolean {
    return this.cursor === (this.manifest as ChunkManifest).chunks.length
  }

  /** Chunk `index` was just written: the hash pass takes its bytes from here when it is next. */
  offer(index: number, bytes: Uint8Array): void {
    if (index === this.cursor && (this.sha256Hash || this.fullHasher)) this.fresh = { index, bytes }
  }

  /** Stops the digest threads (the download ended). */
  abort(): void {
    this.fullHasher?.abort()
  }

  kick(): void {
    this.pass().catch((err: unknown) => {
      this.fatal(err as Error)
      this.run.wake()
    })
  }

  /**
   * Hashes the verified prefix as it grows (the whole-blob sha256, and for a blob without a row
   * every digest), reading back chunks that arrived out of order. Resumed chunks are
   * re-verified here; one that fails is forgotten and fetched again.
   */
  private async pass(): Promise<void> {
    if (this.running) {
      this.again = true
      return
    }
    this.running = true
    const partial = this.partial as PartialFile
    const m = this.manifest as ChunkManifest
    try {
      do {
        this.again = false
        while (this.cursor < m.chunks.length && partial.has(this.cursor) && !this.run.signal.aborted) {
          const i = this.cursor
          if (!this.sha256Hash && !this.fullHasher && !this.unverified.has(i)) {
            // Trusted manifest, chunk verified on arrival: nothing to read.
            if (this.fresh?.index === i) this.fresh = undefined
            this.cursor++
            continue
          }
          let bytes: Uint8Array
          if (this.fresh?.index === i) {
            bytes = this.fresh.bytes
            this.fresh = undefined
          } else {
            bytes = await partial.readChunk(i)
          }
          if (this.unverified.has(i)) {
            this.unverified.delete(i)
            if (createHash('sha256').update(bytes).digest('hex') !== m.chunks[i]) {
              this.run.c.logger.warn?.({ sha256: this.run.sha256, chunk: i }, 'a resumed chunk failed re-verification; fetching it again')
              partial.forget(i)
              break
            }
            this.readers.settle()
          }
          this.sha256Hash?.update(bytes)
          if (this.fullHasher) await this.fullHasher.update(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
          this.cursor++
        }
      } while (this.again)
    } finally {
      this.running = false
      this.run.wake()
    }
  }

  /** Checks the whole blob and moves it into the blob store; `manifestSource` offered the manifest. */
  async commit(manifestSource: SourceState | undefined): Promise<void> {
    const { sha256: expected, c } = this.run
    const m = this.manifest as ChunkManifest
    const partial = this.partial as PartialFile
    await this.readers.allOpened()
    let computed: BlobDigests | undefined
    let sha256: string
    if (this.fullHasher) {
      computed = await this.fullHasher.digest()
      sha256 = computed.sha256
    } else if (this.sha256Hash) {
      sha256 = this.sha256Hash.digest('hex')
    } else {
      // Trusted manifest: every chunk matched a digest list bound to this sha256.
      sha256 = expected
    }
    if (sha256 !== expected || (computed && computed.size !== m.size)) {
      // Every chunk matched a manifest that does not describe the blob: the manifest lied.
      if (manifestSource) this.sources.blameManifest(manifestSource)
      throw new DigestMismatchError(`the chunks assembled for ${expected} hash to ${sha256}; discarded`, {
        expected,
        actual: sha256,
        manifestSource: manifestSource?.source.id,
      })
    }
    const manifestBytes = Buffer.from(m.chunks.join(''), 'hex')
    const row = this.row
    const digests: BlobDigests = row
      ? { sha256: row.sha256, size: row.size, sha1: row.sha1, md5: row.md5, sha512: row.sha512, chunkManifest: manifestBytes }
      : (computed as BlobDigests)
    await partial.close()
    await c.blobs.adopt(partial.paths.part, digests)
    // A row from an event that carried no manifest learns it now (the whole sha256 matched).
    c.remoteBlobs.arrived(expected, row && !this.trusted ? manifestBytes : undefined)
    await Promise.all([rm(partial.paths.have, { force: true }), rm(partial.paths.manifest, { force: true })])
    c.haveChanged(expected, 'all')
  }
}
