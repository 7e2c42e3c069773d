import { pipeline as pipelineCallback, Transform, Writable, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ParallelBlobHasher } from './digests.ts'
import { BodyTimeoutError, BodyTooLargeError, UploadTooSlowError } from './errors.ts'
import { BLOB_IO_BUFFER, SECOND } from './constants.ts'

/**
 * What a client's request body must keep up: no silence longer than `idleTimeoutMs`, and at least
 * `minBytesPerSecond` over every `rateWindowMs` (a slow-loris body that trickles a byte now and
 * then holds a connection and a temp file as long as it likes otherwise).
 */
export interface ClientBodyLimits {
  /** Abort (BodyTimeoutError) after this long without a byte; 0 = never. */
  idleTimeoutMs: number
  /** Abort (UploadTooSlowError) when fewer bytes than this per second arrived over the last `rateWindowMs`; 0 = no minimum. */
  minBytesPerSecond: number
  /** The sliding window the minimum rate is measured over. */
  rateWindowMs: number
}

export interface BodyWatchdog {
  /** Aborts with BodyTimeoutError or UploadTooSlowError, or when the parent aborts. */
  readonly signal: AbortSignal
  /** `bytes` arrived: start the idle wait again and count them towards the rate. */
  touch(bytes?: number): void
  /** The transfer is over: stop watching. */
  stop(): void
}

export interface BodyWatchdogOptions {
  /** Aborting it aborts the watchdog's signal too. */
  parent?: AbortSignal | undefined
  /**
   * The stream the body is read from. While its buffer is full, the node is the one not reading
   * (backpressure from the disk or the hashing threads): that time never counts against the client.
   */
  source?: Readable | undefined
}

/** How often the rate is sampled: a few times per window, at most once a second. */
export function rateSampleInterval(windowMs: number): number {
  return Math.max(10, Math.min(SECOND, Math.floor(windowMs / 4)))
}

/** Whether `source` holds a full buffer nobody reads: the node, not the client, is the bottleneck. */
function heldBack(source: Readable | undefined): boolean {
  return source !== undefined && source.readableLength >= source.readableHighWaterMark
}

/**
 * The one guard on a body a client sends: every transfer that accepts bytes from a client uses it
 * (BlobStore.ingest, resumable chunks, the bounded readers of small bodies, the JSON API).
 */
export function bodyWatchdog(limits: Partial<ClientBodyLimits> | undefined, options: BodyWatchdogOptions = {}): BodyWatchdog {
  const { parent, source } = options
  const idleMs = limits?.idleTimeoutMs ?? 0
  const minRate = limits?.minBytesPerSecond ?? 0
  const windowMs = limits?.rateWindowMs ?? 0
  const controller = new AbortController()
  const abort = (reason: unknown) => {
    if (controller.signal.aborted) return
    stop()
    controller.abort(reason)
  }
  const forward = () => abort(parent?.reason)
  parent?.addEventListener('abort', forward, { once: true })

  let idleTimer: NodeJS.Timeout | undefined
  const armIdle = () => {
    if (!idleMs) return
    clearTimeout(idleTimer)
    idleTimer = setTimeout(() => abort(new BodyTimeoutError(`no body bytes arrived for ${idleMs} ms`)), idleMs)
  }

  // Sliding window: samples of (time, bytes so far); the oldest is the last one at or before
  // now - window, so the rate always covers at least a whole window.
  let received = 0
  let samples: { at: number; bytes: number }[] = [{ at: Date.now(), bytes: 0 }]
  let rateTimer: NodeJS.Timeout | undefined
  if (minRate > 0 && windowMs > 0) {
    rateTimer = setInterval(() => {
      const now = Date.now()
      if (heldBack(source)) {
        samples = [{ at: now, bytes: received }]
        return
      }
      samples.push({ at: now, bytes: received })
      while (samples.length > 1 && (samples[1] as { at: number }).at <= now - windowMs) samples.shift()
      const oldest = samples[0] as { at: number; bytes: number }
      const elapsedMs = now - oldest.at
      if (elapsedMs < windowMs) return
      const bytes = received - oldest.bytes
      if ((bytes * SECOND) / elapsedMs < minRate) {
        abort(
          new UploadTooSlowError(
            `the body arrived at ${Math.round((bytes * SECOND) / elapsedMs)} bytes/s over the last ${Math.round(elapsedMs / SECOND)} s, below the minimum of ${minRate} bytes/s`,
            { bytes, windowMs: elapsedMs, minBytesPerSecond: minRate },
          ),
        )
      }
    }, rateSampleInterval(windowMs))
    rateTimer.unref()
  }

  function stop() {
    clearTimeout(idleTimer)
    clearInterval(rateTimer)
    parent?.removeEventListener('abort', forward)
  }

  armIdle()
  return {
    signal: controller.signal,
    touch(bytes = 0) {
      received += bytes
      armIdle()
    },
    stop,
  }
}

/**
 * Reads `source` to its end under bodyWatchdog(limits), handing each chunk to `onChunk` (whose
 * promise is the backpressure; a throw stops the read with that error). When the guard fires it
 * rejects with its BodyTimeoutError or UploadTooSlowError; a request body read this way is
 * stopped without dropping its connection (pipeline detaches a server request from its socket),
 * so the refusal can still be answered.
 */
export async function consumeGuarded(
  source: Readable,
  limits: Partial<ClientBodyLimits> | undefined,
  onChunk: (chunk: Buffer) => void | Promise<void>,
): Promise<void> {
  const watchdog = bodyWatchdog(limits, { source })
  const sink = new Writable({
    highWaterMark: 0,
    write(chunk: Buffer, _enc, done) {
      watchdog.touch(chunk.length)
      let wait: void | Promise<void>
      try {
        wait = onChunk(chunk)
      } catch (err) {
        done(err as Error)
        return
      }
      if (wait) wait.then(() => done(), done)
      else done()
    },
  })
  try {
    await pipeline(source, sink, { signal: watchdog.signal })
  } catch (err) {
    if (watchdog.signal.aborted && watchdog.signal.reason !== undefined) throw watchdog.signal.reason
    throw err
  } finally {
    watchdog.stop()
  }
}

/**
 * `source` through bodyWatchdog(limits): the stream returned carries the same bytes and fails with
 * BodyTimeoutError or UploadTooSlowError when the guard fires; `source` is then stopped as a
 * pipeline stops it (a server request keeps its socket, so the refusal can be answered).
 */
export function guardedBody(source: Readable, limits: Partial<ClientBodyLimits> | undefined): Readable {
  const watchdog = bodyWatchdog(limits, { source })
  const guard = new Transform({
    transform(chunk: Buffer, _enc, done) {
      watchdog.touch(chunk.length)
      done(null, chunk)
    },
  })
  watchdog.signal.addEventListener('abort', () => guard.destroy(watchdog.signal.reason as Error), { once: true })
  return pipelineCallback(source, guard, () => watchdog.stop())
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
    private readonly onData: (bytes: number) => void = () => {},
  ) {
    super({ highWaterMark: BLOB_IO_BUFFER })
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.onData(chunk.length)
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
