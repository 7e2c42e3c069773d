/*
 * The readers of one download: clients streaming the blob while it arrives. Where each reader
 * is (the plan turns in-order from the slowest one), the readers waiting for a chunk to verify,
 * and the verified chunks kept in memory just ahead of them.
 */
import { open } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { CHUNK_SIZE, RECENT_CHUNKS } from './constants.ts'
import type { DownloadRun } from './download-context.ts'
import { PartialReader, type ReadableDownload } from './reader.ts'

/** What the readers need to know of the download's chunks. */
export interface VerifiedChunks {
  /** Chunk `index` is held and verified: it may be served. */
  usable(index: number): boolean
  /** End (exclusive byte offset) of the run of usable chunks starting at `index`. */
  runEnd(index: number): number
  /** The download failed with this. */
  failure(): Error | undefined
}

interface Waiter {
  chunk: number
  resolve(end: number): void
  reject(err: unknown): void
}

export class ReaderSet implements ReadableDownload {
  /** Each reader (or a reader being opened) → the chunk it reads next. */
  private readonly positions = new Map<object, number>()
  /** Chunks verified ahead of (or at) a waiting reader, kept so the stream need not read them back from disk. */
  private readonly recent = new Map<number, Uint8Array>()
  private readonly waiters = new Set<Waiter>()
  private opening = 0
  private openedResolve: (() => void) | undefined

  constructor(
    private readonly run: DownloadRun,
    private readonly chunks: VerifiedChunks,
  ) {}

  /** Readers (and readers being opened). */
  get size(): number {
    return this.positions.size
  }

  /** The chunk the slowest reader reads next (Infinity without readers). */
  lowest(): number {
    let from = Infinity
    for (const chunk of this.positions.values()) from = Math.min(from, chunk)
    return from
  }

  /**
   * A stream of bytes [start, end] of the partial file at `partPath`, yielding them as the chunks
   * holding them verify. Resolves once the first byte can flow.
   */
  async open(partPath: string, start: number, end: number, signal?: AbortSignal): Promise<Readable> {
    // The plan turns in-order at once (before the descriptor opens): the client waits from here.
    const intent = {}
    this.positions.set(intent, Math.floor(start / CHUNK_SIZE))
    this.run.wake()
    this.opening++
    let fd
    try {
      fd = await open(partPath, 'r')
    } finally {
      this.positions.delete(intent)
      if (--this.opening === 0) this.openedResolve?.()
    }
    const reader = new PartialReader(fd, this, start, end, signal)
    this.positions.set(reader, Math.floor(start / CHUNK_SIZE))
    // Resolve only once the first byte can flow: a download that fails before (no source has
    // the blob) then fails the open, and the client gets an error status rather than a cut body.
    if (start <= end) {
      try {
        await this.available(start, reader, signal ?? new AbortController().signal)
      } catch (err) {
        reader.destroy()
        throw err
      }
    }
    return reader
  }

  /** Resolves once no reader is still opening its descriptor (the file may then be committed). */
  allOpened(): Promise<void> {
    if (this.opening === 0) return Promise.resolve()
    return new Promise((resolve) => (this.openedResolve = resolve))
  }

  available(position: number, reader: object, signal: AbortSignal): Promise<number> {
    const chunk = Math.floor(position / CHUNK_SIZE)
    if (this.positions.has(reader)) {
      const before = this.positions.get(reader)
      this.positions.set(reader, chunk)
      if (before !== chunk) this.trimRecent()
    }
    if (this.chunks.usable(chunk)) return Promise.resolve(this.chunks.runEnd(chunk))
    const failure = this.chunks.failure()
    if (failure) return Promise.reject(failure)
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = {
        chunk,
        resolve: (end) => {
          signal.removeEventListener('abort', onAbort)
          resolve(end)
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort)
          reject(err)
        },
      }
      const onAbort = () => {
        this.waiters.delete(waiter)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.add(waiter)
      this.run.wake()
    })
  }

  detach(reader: object): void {
    this.positions.delete(reader)
    this.trimRecent()
  }

  /** A verified chunk still in memory (streamed from here instead of the partial file). */
  cachedChunk(index: number): Uint8Array | undefined {
    return this.chunks.usable(index) ? this.recent.get(index) : undefined
  }

  /** Chunk `index` was verified and written: kept in memory when a reader is at or before it. */
  offer(index: number, bytes: Uint8Array): void {
    if (this.positions.size === 0) return
    if (index >= this.lowest()) {
      this.recent.set(index, bytes)
      this.trimRecent()
    }
  }

  /** Resolves the waiters whose chunk became usable; rejects all when the download failed. */
  settle(): void {
    const failure = this.chunks.failure()
    for (const w of this.waiters) {
      if (failure) w.reject(failure)
      else if (this.chunks.usable(w.chunk)) w.resolve(this.chunks.runEnd(w.chunk))
      else continue
      this.waiters.delete(w)
    }
  }

  /** The download ended: no chunk is kept in memory any more. */
  clear(): void {
    this.recent.clear()
  }

  /** Keeps only chunks at or after the slowest reader's position, at most RECENT_CHUNKS of them. */
  private trimRecent(): void {
    if (this.recent.size === 0) return
    const from = this.lowest()
    for (const i of this.recent.keys()) if (i < from) this.recent.delete(i)
    while (this.recent.size > RECENT_CHUNKS) {
      let last = -1
      for (const i of this.recent.keys()) last = Math.max(last, i)
      this.recent.delete(last)
    }
  }
}
