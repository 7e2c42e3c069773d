import { randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, rm, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  AkError,
  BLOB_IO_BUFFER,
  bodyWatchdog,
  BodyTooLargeError,
  ClientAbortedError,
  createParallelHasher,
  HashingTransform,
  InsufficientStorageError,
  isStorageFull,
  SECOND,
  SizeMismatchError,
  type ClientBodyLimits,
  type ParallelBlobHasher,
} from '../../store/index.ts'
import { MAX_UPLOAD_SESSIONS, UPLOAD_SWEEP_INTERVAL } from './constants.ts'
import { BlobUploadInvalidError, BlobUploadUnknownError, TooManyUploadsError, UploadOutOfOrderError } from './errors.ts'

/** An upload in progress: a temp file the chunks are appended to, and who it belongs to. */
export interface UploadSession {
  readonly uuid: string
  /** The repository the blob will land in (the deploy target of a virtual repository). */
  readonly repo: string
  /** The OCI name the client started the upload under; later requests must use the same. */
  readonly name: string
  /** Who opened it (the user, or the address of an anonymous caller): the cap on open sessions counts per owner. */
  readonly owner: string
  readonly file: string
  /** Bytes received so far: the next chunk must start here. */
  size: number
  touchedAt: number
  /** A request is writing to it right now. */
  busy: boolean
  /**
   * Digests of the bytes so far, fed as chunks arrive, so finishing needs no second pass.
   * Dropped (undefined) when a chunk fails half-way: a hash cannot be rewound to the cut-back
   * file, so finishing then hashes the whole file again.
   */
  hasher: ParallelBlobHasher | undefined
}

export interface AppendOptions {
  /** The first byte offset the client claims for this chunk (Content-Range); must equal the size. */
  start?: number | undefined
  /** How many bytes the chunk must have (Content-Length and/or Content-Range). */
  length?: number | undefined
  /** Largest total size of the upload. */
  maxBytes: number
  /** The node's limits on a client's body (silence, minimum rate). */
  clientBody?: Partial<ClientBodyLimits> | undefined
  /** Throws InsufficientStorageError when the chunk cannot be taken (see BlobStore.checkSpace). */
  checkSpace?: ((bytes?: number) => void) | undefined
  /** For the 416 answer: where the upload lives. */
  location: string
}

export interface UploadManagerInit {
  /** Directory of the temp files; created if missing. */
  dir: string
  /** Sessions untouched for this long are dropped (BlobUploadUnknownError) and their files deleted. */
  idleTtlMs: number
  /** Open sessions one owner may have; one more is TooManyUploadsError. @default MAX_UPLOAD_SESSIONS */
  maxPerOwner?: number
  /** @default uploadSweepInterval(idleTtlMs) */
  sweepIntervalMs?: number
}

/** How often expired sessions are swept: a few times per TTL, at least every UPLOAD_SWEEP_INTERVAL. */
export function uploadSweepInterval(idleTtlMs: number): number {
  return Math.max(SECOND / 10, Math.min(UPLOAD_SWEEP_INTERVAL, Math.floor(idleTtlMs / 4)))
}

/**
 * Uploads in progress (distribution-spec § Pushing blobs). Each is a temp file under the node's
 * temp dir (emptied at start-up, so a restart drops them) that chunks are appended to with
 * backpressure, never held in memory; the final digest is computed by streaming the whole file
 * into the blob store. Session state is in memory: it dies with the process, like its files.
 */
export class UploadManager {
  private readonly sessions = new Map<string, UploadSession>()
  private readonly timer: NodeJS.Timeout

  constructor(private readonly init: UploadManagerInit) {
    this.timer = setInterval(() => void this.sweep(), init.sweepIntervalMs ?? uploadSweepInterval(init.idleTtlMs))
    this.timer.unref()
  }

  /** A session is expired once idle past the TTL; a request writing to it keeps it alive. */
  private expired(s: UploadSession, now = Date.now()): boolean {
    return !s.busy && now - s.touchedAt > this.init.idleTtlMs
  }

  /** Opens a session for `owner`; TooManyUploadsError when the owner already has the maximum open. */
  async create(repo: string, name: string, owner = ''): Promise<UploadSession> {
    await mkdir(this.init.dir, { recursive: true, mode: 0o700 })
    const max = this.init.maxPerOwner ?? MAX_UPLOAD_SESSIONS
    const now = Date.now()
    let opened = 0
    for (const s of this.sessions.values()) if (s.owner === owner && !this.expired(s, now)) opened++
    if (opened >= max) {
      throw new TooManyUploadsError(`${opened} uploads are open already, the most one user may have; finish or cancel one first`, {
        open: opened,
        max,
      })
    }
    const uuid = randomUUID()
    const file = join(this.init.dir, uuid)
    // Counted from now (busy until its file exists), so concurrent requests cannot pass the cap.
    const session: UploadSession = { uuid, repo, name, owner, file, size: 0, touchedAt: now, busy: true, hasher: undefined }
    this.sessions.set(uuid, session)
    try {
      await mkdir(this.init.dir, { recursive: true })
      const handle = await open(file, 'wx', 0o600)
      await handle.close()
    } catch (err) {
      await this.remove(session)
      throw err
    }
    session.hasher = createParallelHasher()
    session.busy = false
    return session
  }

  /** The session, or BlobUploadUnknownError when it never existed, finished, or expired. */
  get(uuid: string, name: string): UploadSession {
    const s = this.sessions.get(uuid)
    if (!s || s.name !== name || this.expired(s)) {
      throw new BlobUploadUnknownError(`upload '${uuid}' of '${name}' is unknown or expired`, { uuid })
    }
    return s
  }

  /**
   * Appends `source` to the upload. A chunk that does not start where the upload ends is
   * UploadOutOfOrderError (416). On any failure the file is cut back to where it was, so the
   * client can resume from the Range it is told.
   */
  async append(session: UploadSession, source: Readable, options: AppendOptions): Promise<number> {
    if (session.busy) throw new BlobUploadInvalidError(`another request is writing to upload '${session.uuid}'`)
    const start = session.size
    if (options.start !== undefined && options.start !== start) {
      throw new UploadOutOfOrderError(`chunk starts at byte ${options.start}, but the upload has ${start} bytes`, {
        size: start,
        location: options.location,
        uuid: session.uuid,
      })
    }
    // Refused before a byte is read while the disk is short of space (507).
    options.checkSpace?.(options.length)
    session.busy = true
    session.touchedAt = Date.now()
    const watchdog = bodyWatchdog(options.clientBody, { source })
    const counter = new CountingTransform(options.maxBytes - start, (bytes) => {
      watchdog.touch(bytes)
      session.touchedAt = Date.now()
    })
    const sink = createWriteStream(session.file, { flags: 'r+', start, highWaterMark: BLOB_IO_BUFFER })
    const stages: Transform[] = [counter]
    if (session.hasher) stages.push(new HashingTransform(session.hasher))
    try {
      try {
        await pipeline([source, ...stages, sink], { signal: watchdog.signal })
      } catch (err) {
        if (err instanceof AkError) throw err
        if (watchdog.signal.reason instanceof AkError) throw watchdog.signal.reason
        if (isStorageFull(err) || isStorageFull(sink.errored)) {
          throw new InsufficientStorageError(`insufficient storage: ${((sink.errored ?? err) as Error).message}`)
        }
        throw new ClientAbortedError(`chunk interrupted: ${(err as Error).message}`)
      }
      if (options.length !== undefined && counter.count !== options.length) {
        throw new SizeMismatchError(`chunk has ${counter.count} bytes, the request announced ${options.length}`)
      }
      session.size = start + counter.count
      return session.size
    } catch (err) {
      session.hasher?.abort()
      session.hasher = undefined
      // A full disk: give back all the session holds (the client starts over once there is room).
      // Otherwise cut the file back to where it was, so the client can resume from its Range.
      if (err instanceof InsufficientStorageError) await this.remove(session)
      else await truncate(session.file, start).catch(() => {})
      throw err
    } finally {
      watchdog.stop()
      session.busy = false
      session.touchedAt = Date.now()
    }
  }

  /** The whole upload as a stream, for the final digest and the move into the blob store. */
  read(session: UploadSession): Readable {
    return createReadStream(session.file, { highWaterMark: BLOB_IO_BUFFER })
  }

  /** Ends the session and deletes its file (finished, cancelled or failed). */
  async remove(session: UploadSession): Promise<void> {
    this.sessions.delete(session.uuid)
    session.hasher?.abort()
    session.hasher = undefined
    await rm(session.file, { force: true })
  }

  /** Drops sessions idle past the TTL. */
  async sweep(now = Date.now()): Promise<number> {
    let n = 0
    for (const s of [...this.sessions.values()]) {
      if (this.expired(s, now)) {
        await this.remove(s)
        n++
      }
    }
    return n
  }

  get count(): number {
    return this.sessions.size
  }

  /** Stops the sweeper and deletes every temp file. */
  async close(): Promise<void> {
    clearInterval(this.timer)
    await Promise.all([...this.sessions.values()].map((s) => this.remove(s)))
  }
}

/** Counts bytes through, refusing past a maximum. */
class CountingTransform extends Transform {
  count = 0
  constructor(
    private readonly max: number,
    private readonly onData: (bytes: number) => void,
  ) {
    super({ highWaterMark: BLOB_IO_BUFFER })
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.onData(chunk.length)
    if (this.count + chunk.length > this.max) {
      done(new BodyTooLargeError(`upload exceeds the maximum of ${this.max} more bytes`))
      return
    }
    this.count += chunk.length
    done(null, chunk)
  }
}

