import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, open, readdir, rm, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { bodyWatchdog, HashingTransform, type ClientBodyLimits } from './stream-guards.ts'
import { pipeline } from 'node:stream/promises'
import type { BlobDriver, ByteRange, DriverObject } from './blob-driver.ts'
import { createParallelHasher, type BlobDigests, type ExpectedDigests } from './digests.ts'
import { AkError, ClientAbortedError, DigestMismatchError, InsufficientStorageError, isStorageFull, SizeMismatchError } from './errors.ts'
import { BLOB_IO_BUFFER } from './constants.ts'
import type { FreeSpaceMonitor } from './free-space.ts'

/**
 * How an ingest is bounded. A client's body also passes the node's ClientBodyLimits
 * (`...ctx.clientBody`): no long silence (idleTimeoutMs) and a minimum rate over a window.
 */
export interface IngestOptions extends Partial<ClientBodyLimits> {
  /** Refuse (BodyTooLargeError) once more than this many bytes arrive. */
  maxBytes?: number | undefined
  /** The exact size the sender announced (Content-Length); a different count is SizeMismatchError. */
  expectedSize?: number | undefined
  /** Digests the sender announced; any mismatch is DigestMismatchError and nothing is stored. */
  expected?: ExpectedDigests | undefined
  signal?: AbortSignal | undefined
}

export interface BlobStoreOptions {
  /** Free space of the temp dir's file system: ingest refuses to start while it is short. */
  space?: FreeSpaceMonitor | undefined
}

/**
 * Content-addressed blob storage over a BlobDriver: streaming ingest that hashes while it
 * writes a temp file, fsyncs, verifies, and only then moves the bytes into the driver.
 */
export interface BlobStore {
  readonly driver: BlobDriver
  /** Streams `source` into the store; resolves with the blob's digests once it is durable. */
  ingest(source: Readable, options?: IngestOptions): Promise<BlobDigests>
  /**
   * Takes a finished local file (same filesystem as the temp dir) whose digests the caller
   * computed while writing it, e.g. an OCI upload hashed chunk by chunk: checks the size and
   * the announced digests, fsyncs, and moves it in, saving a second read and write of the bytes.
   * The file is consumed on success; on failure it is left to the caller.
   */
  adopt(filePath: string, digests: BlobDigests, expected?: ExpectedDigests): Promise<BlobDigests>
  /** Stream of the blob, or of an inclusive byte range of it. */
  open(sha256: string, range?: ByteRange): Promise<Readable>
  stat(sha256: string): Promise<DriverObject | undefined>
  delete(sha256: string): Promise<void>
  list(): AsyncIterable<DriverObject>
  /** Digests recomputed from the stored bytes (fsck). */
  rehash(sha256: string): Promise<BlobDigests>
  /** Removes leftovers of ingests that never finished. Call only while no ingest runs. */
  cleanTemp(): Promise<number>
  /**
   * Throws InsufficientStorageError while the temp dir's file system is short of space (below the
   * configured minimum, or when `bytes` more would take it below). ingest() checks by itself; a
   * format that writes temp files of its own (OCI chunked uploads) calls it before taking bytes.
   */
  checkSpace(bytes?: number): void
}

/** Throws DigestMismatchError unless every announced digest matches. */
function checkExpected(digests: BlobDigests, expected: ExpectedDigests = {}): void {
  for (const alg of ['sha256', 'sha1', 'md5'] as const) {
    const want = expected[alg]?.toLowerCase()
    if (want !== undefined && want !== digests[alg]) {
      throw new DigestMismatchError(`${alg} of the body is ${digests[alg]}, the request said ${want}`, {
        algorithm: alg,
        expected: want,
        actual: digests[alg],
      })
    }
  }
}

export function createBlobStore(driver: BlobDriver, tempDir: string, options: BlobStoreOptions = {}): BlobStore {
  return new DefaultBlobStore(driver, tempDir, options.space)
}

/** The domain error of a write that failed for lack of space. */
function storageFull(err: unknown): InsufficientStorageError {
  return new InsufficientStorageError(`insufficient storage: ${(err as Error).message}`)
}

class DefaultBlobStore implements BlobStore {
  constructor(
    readonly driver: BlobDriver,
    private readonly tempDir: string,
    private readonly space: FreeSpaceMonitor | undefined,
  ) {}

  checkSpace(bytes?: number): void {
    this.space?.check(bytes)
  }

  async ingest(source: Readable, options: IngestOptions = {}): Promise<BlobDigests> {
    // Refused before a byte is read: the client sees 507 instead of a disk filling up under it.
    this.checkSpace(options.expectedSize)
    try {
      return await this.ingestToTemp(source, options)
    } catch (err) {
      if (!(err instanceof InsufficientStorageError) && !isStorageFull(err)) throw err
      // The temp file is gone by now: read the space that is left, for the next upload and /ready.
      void this.space?.refresh()
      throw err instanceof InsufficientStorageError ? err : storageFull(err)
    }
  }

  private async ingestToTemp(source: Readable, options: IngestOptions): Promise<BlobDigests> {
    await mkdir(this.tempDir, { recursive: true, mode: 0o700 })
    const tempPath = join(this.tempDir, `ingest-${Date.now()}-${randomBytes(8).toString('hex')}`)
    let moved = false
    let hashing: HashingTransform | undefined
    try {
      const watchdog = bodyWatchdog(options, { parent: options.signal, source })
      hashing = new HashingTransform(createParallelHasher(), options.maxBytes, watchdog.touch)
      // flush: fsync before 'close', so the bytes are durable before the rename publishes them.
      const sink = createWriteStream(tempPath, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: BLOB_IO_BUFFER })
      let sourceFailed: unknown
      source.once('error', (err) => {
        sourceFailed ??= err
      })
      try {
        await pipeline(source, hashing, sink, { signal: watchdog.signal })
      } catch (err) {
        if (err instanceof AkError) throw err
        if (watchdog.signal.aborted && watchdog.signal.reason instanceof AkError) throw watchdog.signal.reason
        // The disk filled (the sink failed): not the client's doing, whatever the source says.
        if (isStorageFull(err) || isStorageFull(sink.errored)) throw storageFull(sink.errored ?? err)
        // The source may have failed before the listener above was attached (a client gone while
        // ingest awaited mkdir): its errored state says so, and the raw ECONNRESET must not
        // surface as a 500 and an unexplained failure reason.
        if (sourceFailed !== undefined || source.errored != null || (err as Error).name === 'AbortError') {
          throw new ClientAbortedError(`upload interrupted: ${(err as Error).message}`)
        }
        throw err
      } finally {
        watchdog.stop()
      }
      const digests = await hashing.hasher.digest()
      if (options.expectedSize !== undefined && digests.size !== options.expectedSize) {
        throw new SizeMismatchError(`received ${digests.size} bytes, expected ${options.expectedSize}`)
      }
      checkExpected(digests, options.expected)
      await this.place(tempPath, digests)
      moved = true
      return digests
    } finally {
      hashing?.hasher.abort() // a no-op once digested; frees the threads' state of a failed upload
      if (!moved) await unlink(tempPath).catch(() => {})
    }
  }

  async adopt(filePath: string, digests: BlobDigests, expected?: ExpectedDigests): Promise<BlobDigests> {
    try {
      return await this.adoptFile(filePath, digests, expected)
    } catch (err) {
      if (!isStorageFull(err)) throw err
      void this.space?.refresh()
      throw storageFull(err)
    }
  }

  private async adoptFile(filePath: string, digests: BlobDigests, expected?: ExpectedDigests): Promise<BlobDigests> {
    const handle = await open(filePath, 'r+')
    try {
      const { size } = await handle.stat()
      if (size !== digests.size) throw new SizeMismatchError(`the file has ${size} bytes, its digests cover ${digests.size}`)
      checkExpected(digests, expected)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await this.place(filePath, digests)
    return digests
  }

  /** Moves a verified, fsynced file into the driver; same bytes are stored once. */
  private async place(filePath: string, digests: BlobDigests): Promise<void> {
    if (await this.driver.stat(digests.sha256)) await unlink(filePath)
    else await this.driver.putFile(digests.sha256, filePath, digests.size)
  }

  open(sha256: string, range?: ByteRange): Promise<Readable> {
    return this.driver.read(sha256, range)
  }

  stat(sha256: string): Promise<DriverObject | undefined> {
    return this.driver.stat(sha256)
  }

  delete(sha256: string): Promise<void> {
    return this.driver.delete(sha256)
  }

  list(): AsyncIterable<DriverObject> {
    return this.driver.list()
  }

  async rehash(sha256: string): Promise<BlobDigests> {
    const hasher = createParallelHasher()
    try {
      const stream = await this.driver.read(sha256)
      for await (const chunk of stream) await hasher.update(chunk as Buffer)
      return await hasher.digest()
    } finally {
      hasher.abort()
    }
  }

  async cleanTemp(): Promise<number> {
    let names: string[]
    try {
      names = await readdir(this.tempDir)
    } catch {
      return 0
    }
    await Promise.all(names.map((n) => rm(join(this.tempDir, n), { recursive: true, force: true })))
    return names.length
  }
}
