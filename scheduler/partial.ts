/*
 * Partial downloads on the data dir: `<sha256>.part` (the blob's bytes at their offsets, written
 * with positional writes, sparse until filled), `<sha256>.have` (the have-bitmap of verified
 * chunks) and `<sha256>.manifest` (the chunk list the download works from, JSON).
 *
 * Durability order: a chunk's bit reaches `.have` only after the `.part` was fdatasync'd with the
 * chunk in it, and `.have` is replaced atomically (write a temp file, fsync, rename). So after a
 * crash every persisted bit names bytes that are on disk; bits set since the last flush are lost
 * and those chunks are fetched again. On resume the scheduler trusts the bitmap for planning
 * (those chunks are not fetched again) and re-verifies each resumed chunk's sha256 when its
 * in-order pass reads it anyway; a chunk that fails is cleared and fetched again.
 */
import { mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { chunkCount, CHUNK_SIZE } from '../store/index.ts'
import { clearBit, countBits, emptyBitmap, hasBit, setBit } from './bitmap.ts'
import { BITMAP_FLUSH_INTERVAL } from './constants.ts'
import type { ChunkManifest } from './types.ts'

export interface PartialPaths {
  part: string
  have: string
  manifest: string
}

export function partialPaths(dir: string, sha256: string): PartialPaths {
  return { part: join(dir, `${sha256}.part`), have: join(dir, `${sha256}.have`), manifest: join(dir, `${sha256}.manifest`) }
}

/** Byte range [start, end) of chunk `index` in a blob of `size` bytes. */
export function chunkBounds(size: number, index: number): { start: number; end: number } {
  const start = index * CHUNK_SIZE
  return { start, end: Math.min(size, start + CHUNK_SIZE) }
}

function sameManifest(a: ChunkManifest, b: ChunkManifest): boolean {
  return a.sha256 === b.sha256 && a.size === b.size && a.chunkSize === b.chunkSize && a.chunks.length === b.chunks.length && a.chunks.every((c, i) => c === b.chunks[i])
}

/** The manifest a previous run of a download persisted, if any and well-formed. */
export async function readPersistedManifest(dir: string, sha256: string): Promise<ChunkManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(partialPaths(dir, sha256).manifest, 'utf8')) as ChunkManifest
    if (m.sha256 !== sha256 || !Array.isArray(m.chunks) || m.chunks.length !== chunkCount(m.size) || m.chunkSize !== CHUNK_SIZE) return undefined
    return m
  } catch {
    return undefined
  }
}

/** One blob being downloaded: its `.part` file and have-bitmap. */
export class PartialFile {
  readonly paths: PartialPaths
  readonly chunks: number
  /** Verified chunks held (in memory: bits are set once the chunk's write completed). */
  readonly bitmap: Uint8Array
  private count: number
  private flushChain: Promise<void> = Promise.resolve()
  private flushQueued = false
  private flushTimer: NodeJS.Timeout | undefined
  private lastFlushAt = 0
  private closed = false

  private constructor(
    private readonly fd: FileHandle,
    readonly manifest: ChunkManifest,
    paths: PartialPaths,
    bitmap: Uint8Array,
  ) {
    this.paths = paths
    this.chunks = manifest.chunks.length
    this.bitmap = bitmap
    this.count = countBits(bitmap, this.chunks)
  }

  /**
   * Opens (resuming) or creates the partial download of `manifest.sha256` in `dir`. A previous
   * run's files are kept only when they were made for the same manifest.
   */
  static async open(dir: string, manifest: ChunkManifest): Promise<PartialFile> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const paths = partialPaths(dir, manifest.sha256)
    const chunks = manifest.chunks.length
    let bitmap = emptyBitmap(chunks)
    const previous = await readPersistedManifest(dir, manifest.sha256)
    let resumed = false
    if (previous && sameManifest(previous, manifest)) {
      try {
        const saved = await readFile(paths.have)
        if (saved.length === bitmap.length) {
          bitmap = new Uint8Array(saved)
          resumed = true
        }
      } catch {
        // no bitmap yet: nothing verified survived
      }
    }
    if (!resumed) {
      await rm(paths.have, { force: true })
      await rm(paths.part, { force: true })
      await writeAtomically(paths.manifest, JSON.stringify(manifest))
    }
    const fd = await open(paths.part, resumed ? 'r+' : 'w+', 0o600).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
      bitmap = emptyBitmap(chunks) // the bitmap without its bytes is worthless
      return open(paths.part, 'w+', 0o600)
    })
    await fd.truncate(manifest.size)
    return new PartialFile(fd, manifest, paths, bitmap)
  }

  get verified(): number {
    return this.count
  }

  get complete(): boolean {
    return this.count === this.chunks
  }

  has(index: number): boolean {
    return hasBit(this.bitmap, index)
  }

  /** Bytes held (verified chunks). */
  bytesHeld(): number {
    let bytes = 0
    for (let i = 0; i < this.chunks; i++) if (this.has(i)) bytes += chunkBounds(this.manifest.size, i).end - chunkBounds(this.manifest.size, i).start
    return bytes
  }

  /** Writes a verified chunk at its offset, then marks it held (and queues the bitmap's flush). */
  async writeChunk(index: number, bytes: Uint8Array): Promise<void> {
    const { start } = chunkBounds(this.manifest.size, index)
    let written = 0
    while (written < bytes.length) {
      const { bytesWritten } = await this.fd.write(bytes, written, bytes.length - written, start + written)
      written += bytesWritten
    }
    if (!this.has(index)) {
      setBit(this.bitmap, index)
      this.count++
    }
    this.queueFlush()
  }

  /** Reads chunk `index` back from the file (whatever is there: callers check the bit). */
  async readChunk(index: number): Promise<Buffer> {
    const { start, end } = chunkBounds(this.manifest.size, index)
    const buf = Buffer.allocUnsafe(end - start)
    let read = 0
    while (read < buf.length) {
      const { bytesRead } = await this.fd.read(buf, read, buf.length - read, start + read)
      if (bytesRead === 0) break
      read += bytesRead
    }
    return buf.subarray(0, read)
  }

  /** Forgets a chunk (a resumed chunk that failed re-verification). */
  forget(index: number): void {
    if (!this.has(index)) return
    clearBit(this.bitmap, index)
    this.count--
    this.queueFlush()
  }

  /**
   * Persists the bitmap soon: at most one flush starts per BITMAP_FLUSH_INTERVAL (a flush per
   * chunk kept an fdatasync and an fsync'd rename running back to back, competing with the chunk
   * writes for the thread pool). Bits set meanwhile are only lost to a crash, never wrong.
   */
  private queueFlush(): void {
    if (this.flushQueued || this.closed || this.flushTimer) return
    const wait = this.lastFlushAt + BITMAP_FLUSH_INTERVAL - Date.now()
    if (wait <= 0) return this.flushNow()
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      this.flushNow()
    }, wait)
    this.flushTimer.unref?.()
  }

  /**
   * Persists the bitmap: fdatasync the `.part` first, then replace `.have` with the bits as they
   * were before the sync (every one names bytes that the sync made durable). Calls coalesce.
   */
  private flushNow(): void {
    if (this.flushQueued || this.closed) return
    this.flushQueued = true
    this.flushChain = this.flushChain.then(async () => {
      this.flushQueued = false
      this.lastFlushAt = Date.now()
      const snapshot = Uint8Array.from(this.bitmap)
      await this.fd.datasync()
      await writeAtomically(this.paths.have, snapshot)
    }).catch(() => {
      // A failed flush only loses resumability; the next chunk queues another.
    })
  }

  /** Waits for queued bitmap flushes. */
  async flush(): Promise<void> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    this.flushNow()
    await this.flushChain
  }

  /** Flushes and closes the file; the partial stays on disk for a later resume. */
  async close(): Promise<void> {
    if (this.closed) return
    await this.flush()
    this.closed = true
    await this.fd.close()
  }

  /** Closes and removes every file of this partial download. */
  async discard(): Promise<void> {
    if (!this.closed) {
      this.closed = true
      clearTimeout(this.flushTimer)
      this.flushTimer = undefined
      await this.flushChain
      await this.fd.close().catch(() => {})
    }
    await removePartial(this.paths)
  }
}

export async function removePartial(paths: PartialPaths): Promise<void> {
  await Promise.all([rm(paths.part, { force: true }), rm(paths.have, { force: true }), rm(paths.manifest, { force: true })])
}

async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`
  const fd = await open(tmp, 'w', 0o600)
  try {
    await fd.writeFile(data)
    await fd.sync()
  } finally {
    await fd.close()
  }
  await rename(tmp, path)
}
