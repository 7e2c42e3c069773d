import { Transform, type TransformCallback } from 'node:stream'
import type { ParallelBlobHasher } from './digests.ts'
import { BodyTimeoutError, BodyTooLargeError } from './errors.ts'
import { BLOB_IO_BUFFER } from './constants.ts'

export interface IdleWatchdog {
  /** Aborts with BodyTimeoutError after `idleMs` without touch(), or when the parent aborts. */
  readonly signal: AbortSignal
  /** Bytes arrived: start the idle wait again. */
  touch(): void
  /** The transfer is over: stop watching. */
  stop(): void
}

/** Watches a body for silence: every transfer that accepts bytes from a client needs one. */
export function idleWatchdog(idleMs: number | undefined, parent?: AbortSignal): IdleWatchdog {
  const controller = new AbortController()
  const forward = () => controller.abort(parent?.reason)
  parent?.addEventListener('abort', forward, { once: true })
  let timer: NodeJS.Timeout | undefined
  const touch = () => {
    if (!idleMs) return
    clearTimeout(timer)
    timer = setTimeout(() => controller.abort(new BodyTimeoutError(`no body bytes arrived for ${idleMs} ms`)), idleMs)
  }
  touch()
  return {
    signal: controller.signal,
    touch,
    stop() {
      clearTimeout(timer)
      parent?.removeEventListener('abort', forward)
    },
  }
}

/**
 * Feeds the bytes flowing through to a hasher, refusing (BodyTooLargeError) once the hasher has
 * seen more than `maxBytes`. The hashing threads' backlog is part of the stream's backpressure:
 * a chunk is passed on only once the threads can take more.
 */
export class HashingTransform extends Transform {
  constructor(
    readonly hasher: ParallelBlobHasher,
    private readonly maxBytes = Number.MAX_SAFE_INTEGER,
    private readonly onData: () => void = () => {},
  ) {
    super({ highWaterMark: BLOB_IO_BUFFER })
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.onData()
    if (this.hasher.size + chunk.length > this.maxBytes) {
      done(new BodyTooLargeError(`body exceeds the maximum of ${this.maxBytes} bytes`))
      return
    }
    let wait: Promise<void> | undefined
    try {
      wait = this.hasher.update(chunk)
    } catch (err) {
      done(err as Error)
      return
    }
    if (wait) wait.then(() => done(null, chunk), done)
    else done(null, chunk)
  }
}
