/** In-memory chunk sources and a store on a temp dir, for the scheduler's unit tests. */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { BlobHasher, CHUNK_SIZE, createFsDriver, openStore, type BlobDigests, type Store } from '../../store/index.ts'
import {
  createScheduler,
  SourceError,
  type ChunkManifest,
  type ChunkSource,
  type HaveMap,
  type Scheduler,
  type SchedulerInit,
  type SourceDirectory,
  type SourceFailure,
  type SourceFeedback,
} from '../../scheduler/index.ts'

export interface TestBlob {
  data: Buffer
  digests: BlobDigests
  manifest: ChunkManifest
  chunks: number
}

/** Random bytes with a deterministic shape: `size` bytes and their digests and manifest. */
export function makeBlob(size: number): TestBlob {
  const data = randomBytes(size)
  const h = new BlobHasher()
  h.update(data)
  const digests = h.digest()
  const chunks: string[] = []
  for (let i = 0; i * CHUNK_SIZE < size; i++) chunks.push(createHash('sha256').update(data.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)).digest('hex'))
  return { data, digests, manifest: { sha256: digests.sha256, size, chunkSize: CHUNK_SIZE, chunks }, chunks: chunks.length }
}

export interface MemorySourceOptions {
  kind?: ChunkSource['kind']
  /** What the source holds: 'all' (default), a list of chunk indices, or a function asked on every have(). */
  have?: 'all' | number[] | (() => HaveMap | undefined)
  /** Chunks it answers with wrong bytes. */
  corrupt?: (index: number) => boolean
  /** After this many chunk answers the source is gone (every request rejects). */
  dieAfter?: number
  /** Delay of each chunk answer, ms. */
  delayMs?: number | ((index: number) => number)
  /** Awaited before each answer (tests hold a chunk back with it). */
  gate?: (index: number) => Promise<void>
  /** The manifest it offers (default: the true one; null: none). */
  manifest?: ChunkManifest | null
  /**
   * Asked before each chunk answer with the request's number (0-based) and the time since the
   * first request: a SourceFailure rejects the request with it ('refused' is a busy answer),
   * 'hang' holds it until the caller aborts (a congested uplink), undefined answers normally.
   */
  misbehave?: (request: number, sinceFirstMs: number, index: number) => SourceFailure | 'hang' | undefined
  /** Asked before each have(): a SourceFailure rejects it (e.g. 'gone' while the peer is down). */
  haveFails?: (sinceCreatedMs: number) => SourceFailure | undefined
}

export function bitmapOf(chunks: number, indices: number[]): Uint8Array {
  const b = new Uint8Array(Math.ceil(chunks / 8))
  for (const i of indices) b[i >> 3] = (b[i >> 3] ?? 0) | (1 << (i & 7))
  return b
}

/** A ChunkSource over a buffer in memory, recording every request. */
export class MemorySource implements ChunkSource {
  readonly kind: ChunkSource['kind']
  readonly peerId: string
  /** Chunk indices asked for, in order. */
  readonly requested: number[] = []
  /** Chunk indices answered (with right or wrong bytes). */
  readonly served: number[] = []
  haveCalls = 0
  /** Requests that were answered busy, timed out (hung until aborted) or failed. */
  readonly misbehaved: { index: number; how: SourceFailure | 'hang' }[] = []
  private readonly createdAt = Date.now()
  private firstRequestAt: number | undefined

  constructor(
    readonly id: string,
    private readonly blob: TestBlob,
    private readonly options: MemorySourceOptions = {},
  ) {
    this.kind = options.kind ?? 'libp2p'
    this.peerId = id
  }

  private get dead(): boolean {
    return this.options.dieAfter !== undefined && this.served.length >= this.options.dieAfter
  }

  async have(sha256: string): Promise<HaveMap | undefined> {
    this.haveCalls++
    if (sha256 !== this.blob.digests.sha256) return undefined
    if (this.dead) throw new SourceError('gone', 'gone')
    const down = this.options.haveFails?.(Date.now() - this.createdAt)
    if (down) throw new SourceError(`have: ${down}`, down)
    const h = this.options.have ?? 'all'
    if (h === 'all') return 'all'
    if (typeof h === 'function') return h()
    return bitmapOf(this.blob.chunks, h)
  }

  async manifest(sha256: string): Promise<ChunkManifest | undefined> {
    if (sha256 !== this.blob.digests.sha256) return undefined
    return this.options.manifest === undefined ? this.blob.manifest : (this.options.manifest ?? undefined)
  }

  async fetchChunk(sha256: string, index: number, signal: AbortSignal): Promise<Uint8Array> {
    this.requested.push(index)
    if (this.dead) throw new SourceError('gone', 'gone')
    this.firstRequestAt ??= Date.now()
    const how = this.options.misbehave?.(this.requested.length - 1, Date.now() - this.firstRequestAt, index)
    if (how) {
      this.misbehaved.push({ index, how })
      if (how !== 'hang') throw new SourceError(`chunk ${index}: ${how}`, how)
      await new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason)
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    }
    const d = this.options.delayMs
    const ms = typeof d === 'function' ? d(index) : (d ?? 0)
    if (ms > 0) await sleep(ms, signal)
    await this.options.gate?.(index)
    signal.throwIfAborted()
    if (this.dead) throw new SourceError('gone', 'gone')
    this.served.push(index)
    const bytes = Buffer.from(this.blob.data.subarray(index * CHUNK_SIZE, (index + 1) * CHUNK_SIZE))
    if (this.options.corrupt?.(index)) bytes[0] = (bytes[0] ?? 0) ^ 0xff
    return bytes
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true })
  })
}

export function directoryOf(sources: () => ChunkSource[]): SourceDirectory {
  return { sources: async () => sources() }
}

/** Records what the scheduler reported about sources. */
export class RecordingFeedback implements SourceFeedback {
  readonly failures: { source: string; reason: SourceFailure }[] = []
  readonly transfers: { source: string; bytes: number }[] = []
  estimate() {
    return {}
  }
  transferred(source: ChunkSource, bytes: number) {
    this.transfers.push({ source: source.id, bytes })
  }
  failed(source: ChunkSource, reason: SourceFailure) {
    this.failures.push({ source: source.id, reason })
  }
}

export interface SwarmFixture {
  store: Store
  dataDir: string
  partialDir: string
  scheduler(init: Partial<SchedulerInit> & Pick<SchedulerInit, 'directory'>): Scheduler
  /** Records the blob as known from a replicated event, bytes not here (blob row + remote_blobs row). */
  knowRemote(blob: TestBlob): void
  close(): Promise<void>
}

export function openSwarmFixture(): SwarmFixture {
  const dataDir = mkdtempSync(join(tmpdir(), 'ak-sched-'))
  const store = openStore({ dataDir, driver: createFsDriver(join(dataDir, 'blobs')), nodeId: 'test-node' })
  const partialDir = join(dataDir, 'partial')
  const made: Scheduler[] = []
  return {
    store,
    dataDir,
    partialDir,
    scheduler(init) {
      const s = createScheduler({
        blobs: store.blobs,
        blobIndex: store.blobIndex,
        remoteBlobs: store.remoteBlobs,
        partialDir,
        tuning: { havePollMs: 50, directoryPollMs: 100, noSourceTimeoutMs: 2000, chunkTimeoutFloorMs: 500, initialChunkTimeoutMs: 2000 },
        ...init,
      })
      made.push(s)
      return s
    },
    knowRemote(blob) {
      store.db.transaction(() => {
        store.blobIndex.record(blob.digests)
        store.remoteBlobs.record(blob.digests.sha256, 'origin-peer')
      })()
    },
    async close() {
      await Promise.allSettled(made.map((s) => s.close()))
      store.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const p of stream) parts.push(p as Buffer)
  return Buffer.concat(parts)
}
