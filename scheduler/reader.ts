import type { FileHandle } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { CHUNK_SIZE, READER_BUFFER } from './constants.ts'

/** What a streaming reader needs from the download it reads. */
export interface ReadableDownload {
  /**
   * Resolves with the end (exclusive byte offset) of the verified run that contains `position`,
   * once the chunk holding `position` is verified; rejects when the download fails.
   */
  available(position: number, reader: object, signal: AbortSignal): Promise<number>
  /** The reader is gone (ended or destroyed). */
  detach(reader: object): void
  /** Chunk `index` if it is verified and still in memory (read from there, not from the file). */
  cachedChunk?(index: number): Uint8Array | undefined
}

/**
 * A blob being downloaded, read as a stream: bytes [start, end] from the partial file as soon as
 * the chunks holding them are verified, in order, with backpressure (a read happens only when the
 * consumer asks for more). It holds its own descriptor of the partial file, so the download may
 * commit (rename) the file while the reader is still sending it.
 */
export class PartialReader extends Readable {
  private position: number
  private readonly controller = new AbortController()

  constructor(
    private readonly fd: FileHandle,
    private readonly download: ReadableDownload,
    start: number,
    private readonly end: number,
    signal?: AbortSignal,
  ) {
    super({ highWaterMark: READER_BUFFER })
    this.position = start
    if (signal) {
      if (signal.aborted) queueMicrotask(() => this.destroy(signal.reason as Error))
      else signal.addEventListener('abort', () => this.destroy(signal.reason as Error), { once: true })
    }
  }

  /** The byte the reader needs next (the download takes chunks in order from here). */
  get nextByte(): number {
    return this.position
  }

  override _read(): void {
    if (this.position > this.end) {
      this.push(null)
      return
    }
    this.download.available(this.position, this, this.controller.signal).then(
      async (until) => {
        const chunk = Math.floor(this.position / CHUNK_SIZE)
        const held = this.download.cachedChunk?.(chunk)
        if (held) {
          const offset = this.position - chunk * CHUNK_SIZE
          const n = Math.min(held.length - offset, this.end + 1 - this.position)
          if (n > 0) {
            this.position += n
            this.push(Buffer.from(held.buffer, held.byteOffset + offset, n))
            return
          }
        }
        const length = Math.min(until, this.end + 1) - this.position
        const buf = Buffer.allocUnsafe(Math.min(length, READER_BUFFER))
        const { bytesRead } = await this.fd.read(buf, 0, buf.length, this.position)
        if (bytesRead === 0) throw new Error(`partial file ended at ${this.position}`)
        this.position += bytesRead
        this.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead))
      },
    ).catch((err: unknown) => this.destroy(err as Error))
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.controller.abort()
    this.download.detach(this)
    this.fd.close().then(
      () => callback(err),
      () => callback(err),
    )
  }
}
