import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHUNK_SIZE } from '../../store/index.ts'
import { createNode, loadConfig, type CreateNodeOptions, type RegistryNode } from '../../node/index.ts'
import type { ChunkManifest, ChunkSource, HaveMap, LocalChunks } from '../../scheduler/index.ts'
import { runAk, tempDir } from '../helpers/node-process.ts'
import { ADMIN_BASIC, TEST_ADMIN_PASSWORD } from '../helpers/test-node.ts'
import { makeBlob, RecordingFeedback, type TestBlob } from './swarm-fixture.ts'

/** A ChunkSource over another node's LocalChunks (what the mesh transports carry), with a gate per chunk. */
class LocalChunksSource implements ChunkSource {
  readonly kind = 'libp2p' as const
  readonly peerId = 'origin'
  readonly id = 'libp2p:origin'
  constructor(
    private readonly local: LocalChunks,
    private readonly gate: (index: number) => Promise<void> = async () => {},
  ) {}
  async have(sha256: string): Promise<HaveMap | undefined> {
    return this.local.have(sha256)
  }
  async manifest(sha256: string): Promise<ChunkManifest | undefined> {
    return this.local.manifest(sha256)
  }
  async fetchChunk(sha256: string, index: number): Promise<Uint8Array> {
    await this.gate(index)
    const bytes = await this.local.readChunk(sha256, index)
    if (!bytes) throw new Error(`chunk ${index} not held`)
    return bytes
  }
}

async function startNode(swarm?: CreateNodeOptions['swarm']): Promise<{ node: RegistryNode; url: string; dataDir: string }> {
  const dataDir = tempDir()
  const config = loadConfig({
    env: { AK_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD },
    flags: { dataDir, 'http.host': '127.0.0.1', 'http.port': 0, logLevel: 'silent' },
  })
  const node = await createNode(config, { logger: false, ...(swarm ? { swarm } : {}) })
  return { node, url: await node.listen(), dataDir }
}

describe('node: lazily replicated artifacts are served through the swarm', () => {
  let origin: Awaited<ReturnType<typeof startNode>>
  let edge: Awaited<ReturnType<typeof startNode>>
  let blob: TestBlob
  let releaseLast!: () => void
  const lastReleased = new Promise<void>((r) => (releaseLast = r))
  const feedback = new RecordingFeedback()

  beforeAll(async () => {
    blob = makeBlob(5 * CHUNK_SIZE + 321)
    origin = await startNode()
    const created = await origin.node.app.inject({
      method: 'POST',
      url: '/api/v1/repositories',
      headers: { authorization: ADMIN_BASIC, 'content-type': 'application/json' },
      payload: { key: 'files', format: 'generic', public: true },
    })
    expect(created.statusCode).toBe(201)
    const put = await origin.node.app.inject({ method: 'PUT', url: '/generic/files/tools/big.bin', headers: { authorization: ADMIN_BASIC }, payload: blob.data })
    expect(put.statusCode).toBe(201)

    const last = blob.chunks - 1
    const source = new LocalChunksSource(origin.node.scheduler.local, (i) => (i === last ? lastReleased : Promise.resolve()))
    edge = await startNode({ directory: { sources: async () => [source] }, feedback })
    // What applying the origin's events leaves on the edge: the repository, the artifact, the
    // blob row with its digests and manifest, and a remote_blobs row (bytes not here).
    const s = edge.node.store
    s.repositories.create({ key: 'files', format: 'generic', type: 'local', description: '', public: true, settings: {} })
    s.artifacts.put({ repo: 'files', path: 'tools/big.bin', blob: blob.digests, contentType: 'application/octet-stream', createdBy: null, overwrite: true })
    s.db.prepare('INSERT INTO remote_blobs (sha256, origin, recorded_at) VALUES (?, ?, ?)').run(blob.digests.sha256, 'origin', Date.now())
  })
  afterAll(async () => {
    releaseLast()
    for (const n of [edge, origin]) {
      if (!n) continue
      await n.node.close()
      rmSync(n.dataDir, { recursive: true, force: true })
    }
  })

  it('HEAD answers from the metadata without fetching anything', async () => {
    const res = await fetch(`${edge.url}/generic/files/tools/big.bin`, { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBe(String(blob.data.length))
    expect(edge.node.scheduler.transfers()).toEqual([])
  })

  it('a client GET receives the first bytes before the blob is complete, then all of it, verified', async () => {
    const res = await fetch(`${edge.url}/generic/files/tools/big.bin`)
    expect(res.status).toBe(200)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const parts: Uint8Array[] = []
    let got = 0
    while (got < CHUNK_SIZE) {
      const { value, done } = await reader.read()
      if (done) break
      parts.push(value)
      got += value.length
    }
    // The last chunk is still held back at the source: the blob cannot be complete.
    expect(got).toBeGreaterThanOrEqual(CHUNK_SIZE)
    const [t] = edge.node.scheduler.transfers()
    expect(t?.state).toBe('active')
    expect(t?.mode).toBe('in-order')
    releaseLast()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      parts.push(value)
    }
    const body = Buffer.concat(parts)
    expect(body.length).toBe(blob.data.length)
    expect(createHash('sha256').update(body).digest('hex')).toBe(blob.digests.sha256)
  })

  it('commits the blob: the next GET is served locally, the remote_blobs row is gone', async () => {
    const deadline = Date.now() + 5000
    while (edge.node.scheduler.transfers()[0]?.state !== 'done' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(edge.node.store.db.prepare('SELECT 1 FROM remote_blobs WHERE sha256 = ?').get(blob.digests.sha256)).toBeUndefined()
    expect(await edge.node.store.blobs.stat(blob.digests.sha256)).toMatchObject({ size: blob.data.length })
    const res = await fetch(`${edge.url}/generic/files/tools/big.bin`, { headers: { range: 'bytes=10-19' } })
    expect(res.status).toBe(206)
    expect(Buffer.from(await res.arrayBuffer()).equals(blob.data.subarray(10, 20))).toBe(true)
    expect(edge.node.scheduler.transfers()).toHaveLength(1)
    expect(feedback.transfers.reduce((n, t) => n + t.bytes, 0)).toBe(blob.data.length)
  })

  it('GET /api/v1/transfers: admins see the download and bytes per source; others are refused', async () => {
    const anon = await edge.node.app.inject({ method: 'GET', url: '/api/v1/transfers' })
    expect(anon.statusCode).toBe(401)
    const res = await edge.node.app.inject({ method: 'GET', url: '/api/v1/transfers', headers: { authorization: ADMIN_BASIC } })
    expect(res.statusCode).toBe(200)
    const body = res.json() as { active: number; transfers: { sha256: string; state: string; progress: number; sources: { id: string; bytes: number; state: string }[] }[] }
    expect(body.active).toBe(0)
    expect(body.transfers[0]).toMatchObject({ sha256: blob.digests.sha256, state: 'done', progress: 1 })
    expect(body.transfers[0]?.sources).toEqual([expect.objectContaining({ id: 'libp2p:origin', bytes: blob.data.length, state: 'done' })])
  })

  it('/metrics counts swarm bytes per source kind', async () => {
    const res = await edge.node.app.inject({ method: 'GET', url: '/metrics' })
    expect(res.body).toContain(`ak_swarm_bytes_total{kind="libp2p"} ${blob.data.length}`)
  })

  it('`ak transfers` prints the table with a progress bar, and --json the API answer', async () => {
    const env = { AK_PASSWORD: TEST_ADMIN_PASSWORD }
    const table = await runAk(['transfers', '--url', edge.url, '--user', 'admin'], env)
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).toContain(blob.digests.sha256.slice(0, 16))
    expect(table.stdout).toContain('100%')
    expect(table.stdout).toContain('libp2p:origin')
    const json = await runAk(['transfers', '--url', edge.url, '--user', 'admin', '--json'], env)
    expect(json.code, json.stderr).toBe(0)
    expect((JSON.parse(json.stdout) as { transfers: { sha256: string }[] }).transfers[0]?.sha256).toBe(blob.digests.sha256)
    const refused = await runAk(['transfers', '--url', edge.url], {})
    expect(refused.code).not.toBe(0)
  })
})
