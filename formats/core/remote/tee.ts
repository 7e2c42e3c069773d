import { PassThrough, Writable } from 'node:stream'

/** Resolves when `stream` can take more (drain), or is gone (close); rejects when already destroyed. */
function drained(stream: PassThrough): Promise<void> {
  if (stream.destroyed) return Promise.reject(stream.errored ?? new Error('stream destroyed'))
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('close', done)
  })
}

/**
 * Writes one upstream body to two readers at once: the store (ingest) and the waiting client.
 * Backpressure is explicit: a chunk is accepted only when both branches took the previous one,
 * so at most about two high-water marks are buffered however large the file. The client branch
 * holds back the last chunk until release(): the store verifies size and digests only at the
 * end, and a client must never get a complete-looking body the store refused.
 *
 * A client that goes away (or stalls longer than `clientStallMs`) is dropped; the store branch
 * keeps going, so the bytes still land for everyone else.
 */
export class StoreAndClientTee extends Writable {
  readonly store: PassThrough
  readonly client: PassThrough
  private held: Buffer | undefined
  private clientGone = false
  /** Bytes accepted so far. */
  bytes = 0

  constructor(highWaterMark: number, private readonly clientStallMs: number) {
    super({ highWaterMark })
    this.store = new PassThrough({ highWaterMark })
    this.client = new PassThrough({ highWaterMark })
    this.client.once('close', () => {
      this.clientGone = true
      this.held = undefined
    })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytes += chunk.length
    const waits: Promise<void>[] = []
    if (!this.store.write(chunk)) waits.push(drained(this.store))
    if (!this.clientGone) {
      const previous = this.held
      this.held = chunk
      if (previous && !this.client.write(previous)) waits.push(this.clientDrained())
    }
    if (waits.length === 0) callback()
    else Promise.all(waits).then(() => callback(), (err: Error) => callback(err))
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.store.end()
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The client branch is left to fail(): the caller maps the error to a domain error first.
    if (error) this.store.destroy(error)
    callback(error)
  }

  /** The store accepted the bytes: hand the client the held last chunk and end its branch. */
  release(): void {
    if (this.clientGone) return
    if (this.held) this.client.write(this.held)
    this.held = undefined
    this.client.end()
  }

  /** The store refused the bytes: cut the client's response short so it cannot pass for complete. */
  fail(error: Error): void {
    this.held = undefined
    this.client.destroy(error)
  }

  private clientDrained(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const stalled = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.client.destroy()
        resolve()
      }, this.clientStallMs)
    })
    return Promise.race([drained(this.client).catch(() => undefined), stalled]).finally(() => clearTimeout(timer))
  }
}
