import { createHash, type Hash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { CHUNK_DIGEST_BYTES, CHUNK_SIZE, KiB, MiB } from './constants.ts'

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

/**
 * A BlobHasher whose hashing runs on worker threads, so one ingest uses several cores and the
 * event loop stays free for other requests. Same digests, same single streaming pass: the bytes
 * are copied once into SharedArrayBuffer slices that every hashing thread reads.
 */
export interface ParallelBlobHasher {
  /** Bytes fed so far. */
  readonly size: number
  /**
   * Feeds the next bytes (copied: the caller may reuse `buf`). Returns a promise when too many
   * bytes already wait for the hashing threads: await it before feeding more (backpressure).
   */
  update(buf: Buffer): Promise<void> | undefined
  /** All digests, once every byte fed so far is hashed. Call once. */
  digest(): Promise<BlobDigests>
  /** Forgets an unfinished hash (failed upload), releasing its thread state. */
  abort(): void
}

/**
 * Bytes gathered before they go to the hashing threads; smaller blobs are hashed in-thread.
 * Slices are recycled, never freed: a SharedArrayBuffer is released only once every thread
 * that saw it collects garbage, which an idle hashing thread hardly ever does.
 */
export const HASH_SLICE_BYTES = 256 * KiB
/** Bytes of one hash that may wait for the threads before update() asks the caller to wait. */
export const HASH_BACKLOG_PER_BLOB = 4 * MiB
/** Bytes of all hashes together that may wait for the threads. */
export const HASH_BACKLOG_TOTAL = 32 * MiB
/**
 * Hashing threads: one per core, at most three (beyond that md5, which cannot be split, is the
 * bound). AK_HASH_THREADS overrides it; 0 hashes on the calling thread (BlobHasher).
 */
export function hashThreadCount(): number {
  const fromEnv = process.env.AK_HASH_THREADS
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Math.min(Number(fromEnv), 8)
  return Math.min(3, availableParallelism())
}

type Alg = 'sha256' | 'sha1' | 'md5' | 'sha512'
interface Lane {
  algs: Alg[]
  chunks: boolean
}

/**
 * How the digests are split over `n` threads, balanced by their cost per byte measured with
 * SHA-NI (sha256 ≈ sha1 ≈ 0.65 ns, md5 ≈ 1.6 ns, sha512 ≈ 1.45 ns; the chunk manifest is a
 * second sha256).
 */
function lanesFor(n: number): Lane[] {
  if (n <= 1) return [{ algs: ['sha256', 'sha1', 'md5', 'sha512'], chunks: true }]
  if (n === 2) return [{ algs: ['sha256', 'sha1'], chunks: true }, { algs: ['md5', 'sha512'], chunks: false }]
  return [{ algs: ['sha256', 'sha1'], chunks: true }, { algs: ['md5'], chunks: false }, { algs: ['sha512'], chunks: false }]
}

// The hashing thread: plain CommonJS, evaluated, so it needs no TypeScript loader.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const CHUNK_SIZE = ${CHUNK_SIZE}
const jobs = new Map()
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    jobs.set(m.id, { hashes: m.algs.map((a) => [a, createHash(a)]), chunks: m.chunks ? { hash: createHash('sha256'), fill: 0, out: [] } : null })
    return
  }
  const job = jobs.get(m.id)
  if (m.op === 'data') {
    if (job) {
      const buf = Buffer.from(m.sab, 0, m.len)
      for (const [, h] of job.hashes) h.update(buf)
      const c = job.chunks
      if (c) {
        let offset = 0
        while (offset < buf.length) {
          const take = Math.min(CHUNK_SIZE - c.fill, buf.length - offset)
          c.hash.update(buf.subarray(offset, offset + take))
          c.fill += take
          offset += take
          if (c.fill === CHUNK_SIZE) {
            c.out.push(c.hash.digest())
            c.hash = createHash('sha256')
            c.fill = 0
          }
        }
      }
    }
    parentPort.postMessage({ op: 'done', id: m.id, len: m.len, slot: m.slot })
  } else if (m.op === 'digest' && job) {
    jobs.delete(m.id)
    const hex = {}
    for (const [a, h] of job.hashes) hex[a] = h.digest('hex')
    let manifest = null
    if (job.chunks) {
      if (job.chunks.fill > 0) job.chunks.out.push(job.chunks.hash.digest())
      manifest = Buffer.concat(job.chunks.out)
    }
    parentPort.postMessage({ op: 'digest', id: m.id, hex, manifest })
  } else if (m.op === 'drop') {
    jobs.delete(m.id)
  }
})
`

interface WorkerMessage {
  op: 'done' | 'digest'
  id: number
  len?: number
  slot?: number
  hex?: Partial<Record<Alg, string>>
  manifest?: Uint8Array | null
}

interface PoolJob {
  onDone(len: number): void
  onDigest(hex: Partial<Record<Alg, string>>, manifest: Uint8Array | null): void
  onFail(err: Error): void
}

/** The process's hashing threads, shared by every ParallelBlobHasher. */
class HashPool {
  readonly lanes: Lane[]
  private readonly workers: Worker[]
  private readonly jobs = new Map<number, PoolJob>()
  private readonly waiters = new Set<{ ready: () => boolean; resolve: () => void }>()
  private nextId = 1
  private refs = 0
  /** Bytes posted to a thread and not yet hashed by it, all jobs together. */
  inFlight = 0
  private readonly slices: Buffer[] = []
  /** Per slice: threads that have yet to hash it. */
  private readonly readers: number[] = []
  private readonly free: number[] = []
  broken: Error | undefined

  constructor(count: number) {
    this.lanes = lanesFor(count)
    this.workers = this.lanes.map(() => {
      const w = new Worker(WORKER_SOURCE, { eval: true })
      w.on('message', (m: WorkerMessage) => this.onMessage(m))
      w.on('error', (err) => this.fail(err))
      w.on('exit', (code) => this.fail(new Error(`hashing thread exited with code ${code}`)))
      // After the listeners: on Node 20 adding a 'message' listener refs the worker again, and
      // an idle pool then kept every CLI command that hashed (ak fsck) from ever exiting.
      w.unref()
      return w
    })
  }

  open(job: PoolJob): { id: number; lanes: number[] } {
    const id = this.nextId++
    this.jobs.set(id, job)
    // Idle threads must not keep the process alive, busy ones must (a CLI awaiting a digest).
    if (this.refs++ === 0) for (const w of this.workers) w.ref()
    // Lane i of job `id` runs on worker (i + id) mod n: concurrent blobs spread the heavy lanes.
    const lanes = this.lanes.map((_, i) => (i + id) % this.workers.length)
    lanes.forEach((worker, laneIndex) => {
      const lane = this.lanes[laneIndex] as Lane
      this.workers[worker]?.postMessage({ op: 'open', id, algs: lane.algs, chunks: lane.chunks })
    })
    return { id, lanes }
  }

  post(worker: number, message: object): void {
    this.workers[worker]?.postMessage(message)
  }

  /** A free slice to fill (a SharedArrayBuffer of HASH_SLICE_BYTES), by its slot number. */
  acquire(): { slot: number; buf: Buffer } {
    let slot = this.free.pop()
    if (slot === undefined) {
      slot = this.slices.length
      this.slices.push(Buffer.from(new SharedArrayBuffer(HASH_SLICE_BYTES)))
      this.readers.push(0)
    }
    return { slot, buf: this.slices[slot] as Buffer }
  }

  /** Hands a filled slice to `workers`; it returns to the free list once all have hashed it. */
  postSlice(id: number, slot: number, len: number, workers: number[]): void {
    this.readers[slot] = workers.length
    const message = { op: 'data', id, sab: (this.slices[slot] as Buffer).buffer, slot, len }
    for (const w of workers) {
      this.inFlight += len
      this.workers[w]?.postMessage(message)
    }
  }

  release(slot: number): void {
    this.readers[slot] = 0
    this.free.push(slot)
  }

  close(id: number): void {
    if (!this.jobs.delete(id)) return
    if (--this.refs === 0) for (const w of this.workers) w.unref()
  }

  /** Resolves once `ready()` holds, checked whenever a thread finishes a slice. */
  waitUntil(ready: () => boolean): Promise<void> {
    if (this.broken) return Promise.reject(this.broken)
    return new Promise((resolve) => this.waiters.add({ ready, resolve }))
  }

  private onMessage(m: WorkerMessage): void {
    if (m.op === 'done') {
      this.inFlight -= m.len ?? 0
      if (m.slot !== undefined && --(this.readers[m.slot] as number) === 0) this.free.push(m.slot)
      this.jobs.get(m.id)?.onDone(m.len ?? 0)
      for (const w of this.waiters) {
        if (w.ready()) {
          this.waiters.delete(w)
          w.resolve()
        }
      }
    } else {
      this.jobs.get(m.id)?.onDigest(m.hex ?? {}, m.manifest ?? null)
    }
  }

  private fail(err: Error): void {
    if (this.broken) return
    this.broken = err
    if (pool === this) pool = undefined
    for (const job of this.jobs.values()) job.onFail(err)
    this.jobs.clear()
    for (const w of this.waiters) w.resolve()
    this.waiters.clear()
    for (const w of this.workers) void w.terminate()
  }
}

let pool: HashPool | undefined

/** Digests of `buf` hashed in-thread (what a blob smaller than one slice gets). */
function inThread(buf: Buffer): BlobDigests {
  const h = new BlobHasher()
  if (buf.length > 0) h.update(buf)
  return h.digest()
}

class ThreadedHasher implements ParallelBlobHasher {
  size = 0
  private slice: { slot: number; buf: Buffer } | undefined
  private fill = 0
  private job: { id: number; lanes: number[] } | undefined
  /** Bytes this hash posted and a thread has not hashed yet (counted once per lane). */
  private backlog = 0
  private failed: Error | undefined
  private results: { hex: Partial<Record<Alg, string>>; manifest: Uint8Array | null }[] = []
  private onResult: (() => void) | undefined
  private done = false

  constructor(private readonly pool: HashPool) {}

  update(buf: Buffer): Promise<void> | undefined {
    if (this.done) throw new Error('update() after digest() or abort()')
    this.size += buf.length
    let offset = 0
    while (offset < buf.length) {
      this.slice ??= this.pool.acquire()
      const n = buf.copy(this.slice.buf, this.fill, offset)
      this.fill += n
      offset += n
      if (this.fill === HASH_SLICE_BYTES) this.flush()
    }
    if (this.failed) return Promise.reject(this.failed)
    if (!this.congested()) return undefined
    return this.pool.waitUntil(() => !this.congested())
  }

  private congested(): boolean {
    return this.backlog > HASH_BACKLOG_PER_BLOB || this.pool.inFlight > HASH_BACKLOG_TOTAL
  }

  private flush(): void {
    if (this.fill === 0 || !this.slice) return
    if (this.pool.broken) {
      this.failed ??= this.pool.broken
      this.dropSlice()
      return
    }
    if (!this.job) {
      this.job = this.pool.open(
        {
          onDone: (len) => (this.backlog -= len),
          onDigest: (hex, manifest) => {
            this.results.push({ hex, manifest })
            this.onResult?.()
          },
          onFail: (err) => {
            this.failed = err
            this.onResult?.()
          },
        },
      )
    }
    this.pool.postSlice(this.job.id, this.slice.slot, this.fill, this.job.lanes)
    this.backlog += this.fill * this.job.lanes.length
    // The threads read this slice until they report it done: never write into it again.
    this.slice = undefined
    this.fill = 0
  }

  private dropSlice(): void {
    if (this.slice) this.pool.release(this.slice.slot)
    this.slice = undefined
    this.fill = 0
  }

  async digest(): Promise<BlobDigests> {
    if (this.done) throw new Error('digest() called twice')
    this.done = true
    if (!this.job) {
      // Smaller than one slice: not worth a round trip to the threads.
      const d = inThread(this.slice ? this.slice.buf.subarray(0, this.fill) : Buffer.alloc(0))
      this.dropSlice()
      return d
    }
    this.flush()
    const { id, lanes } = this.job
    for (const worker of lanes) this.pool.post(worker, { op: 'digest', id })
    try {
      await new Promise<void>((resolve) => {
        this.onResult = () => {
          if (this.failed || this.results.length === lanes.length) resolve()
        }
        this.onResult()
      })
      if (this.failed) throw this.failed
    } finally {
      this.pool.close(id)
    }
    const hex: Partial<Record<Alg, string>> = {}
    let manifest: Buffer | undefined
    for (const r of this.results) {
      Object.assign(hex, r.hex)
      if (r.manifest) manifest = Buffer.from(r.manifest.buffer, r.manifest.byteOffset, r.manifest.byteLength)
    }
    if (!hex.sha256 || !hex.sha1 || !hex.md5 || !hex.sha512 || !manifest) throw new Error('a hashing thread returned incomplete digests')
    return { sha256: hex.sha256, sha1: hex.sha1, md5: hex.md5, sha512: hex.sha512, size: this.size, chunkManifest: manifest }
  }

  abort(): void {
    if (this.done) return
    this.done = true
    this.dropSlice()
    if (!this.job) return
    for (const worker of this.job.lanes) this.pool.post(worker, { op: 'drop', id: this.job.id })
    this.pool.close(this.job.id)
  }
}

/** BlobHasher behind the ParallelBlobHasher interface (AK_HASH_THREADS=0). */
class InlineHasher implements ParallelBlobHasher {
  private readonly hasher = new BlobHasher()
  get size(): number {
    return this.hasher.size
  }
  update(buf: Buffer): undefined {
    this.hasher.update(buf)
    return undefined
  }
  async digest(): Promise<BlobDigests> {
    return this.hasher.digest()
  }
  abort(): void {}
}

/** A hasher for one blob, on the shared hashing threads (or in-thread if there are none). */
export function createParallelHasher(): ParallelBlobHasher {
  const threads = hashThreadCount()
  if (threads === 0) return new InlineHasher()
  pool ??= new HashPool(threads)
  return new ThreadedHasher(pool)
}
