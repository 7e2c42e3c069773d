import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { BlobHasher, CHUNK_SIZE } from '../../store/index.ts'
import { SourceError, type ChunkManifest, type ChunkSource, type HaveMap } from '../../scheduler/index.ts'
import { openSwarmFixture, type SwarmFixture } from './swarm-fixture.ts'

const MiB = 1024 * 1024
const BLOB_CHUNKS = 64
const MAX_DEPTH = 4

/** Chunk i of a synthetic blob: a random base with i stamped in front, made on demand (the test never holds the blob). */
function chunkOf(base: Buffer, i: number): Buffer {
  const c = Buffer.from(base)
  c.writeUInt32BE(i, 0)
  return c
}

class SyntheticSource implements ChunkSource {
  readonly kind = 'http' as const
  constructor(
    readonly id: string,
    private readonly base: Buffer,
    private readonly manifestOf: ChunkManifest,
  ) {}
  async have(sha256: string): Promise<HaveMap | undefined> {
    return sha256 === this.manifestOf.sha256 ? 'all' : undefined
  }
  async manifest(): Promise<ChunkManifest> {
    return this.manifestOf
  }
  async fetchChunk(_sha256: string, index: number): Promise<Uint8Array> {
    if (index >= BLOB_CHUNKS) throw new SourceError('no such chunk', 'refused')
    await new Promise((r) => setImmediate(r))
    return chunkOf(this.base, index)
  }
}

let fx: SwarmFixture
afterEach(async () => {
  await fx.close()
})

describe('scheduler memory', () => {
  it('a 64 MiB download streamed to a reader keeps RSS growth to the chunks in flight, not the blob', async () => {
    fx = openSwarmFixture()
    const base = randomBytes(CHUNK_SIZE)
    const hasher = new BlobHasher()
    const chunks: string[] = []
    for (let i = 0; i < BLOB_CHUNKS; i++) {
      const c = chunkOf(base, i)
      hasher.update(c)
      chunks.push(createHash('sha256').update(c).digest('hex'))
    }
    const digests = hasher.digest()
    const manifest: ChunkManifest = { sha256: digests.sha256, size: digests.size, chunkSize: CHUNK_SIZE, chunks }
    fx.knowRemote({ data: Buffer.alloc(0), digests, manifest, chunks: BLOB_CHUNKS })
    const sources = [new SyntheticSource('http:a', base, manifest), new SyntheticSource('http:b', base, manifest)]
    const scheduler = fx.scheduler({ directory: { sources: async () => sources }, tuning: { maxDepth: MAX_DEPTH } })

    global.gc?.()
    const baseline = process.memoryUsage().rss
    let peak = baseline
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
    const received = createHash('sha256')
    let bytes = 0
    try {
      for await (const part of await scheduler.open(digests.sha256)) {
        received.update(part as Buffer)
        bytes += (part as Buffer).length
        peak = Math.max(peak, process.memoryUsage().rss)
      }
    } finally {
      clearInterval(sampler)
    }
    expect(bytes).toBe(64 * MiB)
    expect(received.digest('hex')).toBe(digests.sha256)
    const growth = peak - baseline
    // In flight: 2 sources × MAX_DEPTH chunks of 1 MiB, plus the hash pass's and the reader's
    // buffers and garbage not yet collected: far below the 64 MiB blob.
    expect(growth, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(32 * MiB)
    console.log(`RSS growth during a 64 MiB swarm download: ${(growth / MiB).toFixed(1)} MiB`)
  })
})
