import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeProcess } from '../helpers/node-process.ts'
import {
  PEER_TOKEN_HEADER,
  createHttpChunkSource,
  createLibp2pChunkSource,
  createPeerSourceFactory,
  createPeerTokenSigner,
  fetchPeerChunkInfo,
} from '../../mesh/index.ts'
import { CHUNK_SIZE } from '../../store/index.ts'
import { fetchAll, manifestOf, meshKeyOf, sha256, startPeer, type TestPeer } from './chunks-helpers.ts'
import { api, connectedTo, meshStatus, newMeshKey, startMeshNode, waitFor } from './mesh-helpers.ts'

const signal = () => AbortSignal.timeout(15_000)

async function publish(n: NodeProcess, path: string, body: Buffer): Promise<void> {
  await api(n, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'files', format: 'generic' }) })
  const r = await fetch(`${n.url}/generic/files/${path}`, {
    method: 'PUT',
    body: body,
    headers: { authorization: n.adminAuth, 'content-type': 'application/octet-stream' },
    signal: signal(),
  })
  expect(r.status, await r.text()).toBeLessThan(300)
}

describe('chunk transports against real node processes', () => {
  let honest: NodeProcess
  let liar: NodeProcess
  let me: TestPeer
  let ids: { honest: string; liar: string }
  // 2.25 MiB: three chunks, the last a quarter.
  const bytes = randomBytes(2 * CHUNK_SIZE + CHUNK_SIZE / 4)
  const manifest = manifestOf(bytes)

  beforeAll(async () => {
    const key = await newMeshKey()
    honest = await startMeshNode({ AK_MESH_KEY: key })
    const sh = await meshStatus(honest)
    liar = await startMeshNode({ AK_MESH_KEY: key, AK_FAULT_CORRUPT_CHUNKS: '1', AK_MESH_BOOTSTRAP: sh.addresses[0] as string })
    const sl = await meshStatus(liar)
    ids = { honest: sh.peerId, liar: sl.peerId }
    await Promise.all([publish(honest, 'blob.bin', bytes), publish(liar, 'blob.bin', bytes)])
    // This test process joins the same mesh as a third node.
    me = await startPeer(key, { bootstrap: [sh.addresses[0] as string, sl.addresses[0] as string] })
    await waitFor('test peer connected to both nodes', async () => {
      const [a, b] = await Promise.all([meshStatus(honest), meshStatus(liar)])
      return connectedTo(a, me.identity.peerId) && connectedTo(b, me.identity.peerId)
    }, 15_000)
  })
  afterAll(async () => {
    await me?.stop()
    await Promise.all([honest, liar].filter(Boolean).map((n) => n.stop()))
  })

  it('a node advertises its listening URL in its info answer, and both transports deliver the blob intact', async () => {
    const info = await fetchPeerChunkInfo(me.host, ids.honest, signal())
    expect(info.httpUrl).toBe(honest.url)
    const sources = await createPeerSourceFactory(me.host, me.identity, meshKeyOf(me)).sourcesFor(ids.honest, signal())
    expect(sources.map((s) => s.id)).toEqual([`libp2p:${ids.honest}`, `http:${ids.honest}`])
    for (const source of sources) {
      expect(await source.have(manifest.sha256, signal())).toBe('all')
      expect(await source.manifest(manifest.sha256, signal())).toEqual(manifest)
      const got = await fetchAll(manifest, (i) => source.fetchChunk(manifest.sha256, i, signal()), 3)
      expect(sha256(got), source.kind).toBe(manifest.sha256)
    }
  })

  it('a node started with AK_FAULT_CORRUPT_CHUNKS=1 warns, keeps true manifests and serves every chunk corrupted on both transports', async () => {
    expect(liar.output()).toContain('AK_FAULT_CORRUPT_CHUNKS')
    const info = await fetchPeerChunkInfo(me.host, ids.liar, signal())
    const sources = [
      createLibp2pChunkSource(me.host, ids.liar),
      createHttpChunkSource({ identity: me.identity, peerId: ids.liar, baseUrl: info.httpUrl as string, ...meshKeyOf(me) }),
    ]
    for (const source of sources) {
      expect(await source.manifest(manifest.sha256, signal())).toEqual(manifest)
      for (let i = 0; i < manifest.chunks.length; i++) {
        const chunk = await source.fetchChunk(manifest.sha256, i, signal())
        expect(chunk.length, source.kind).toBe(Math.min(CHUNK_SIZE, bytes.length - i * CHUNK_SIZE))
        expect(sha256(chunk), `${source.kind} chunk ${i}`).not.toBe(manifest.chunks[i])
      }
    }
  })

  it('a real node refuses HTTP chunk requests from a node outside its mesh (403) and without a token (401)', async () => {
    const outsider = await startPeer(undefined)
    try {
      const token = await createPeerTokenSigner(outsider.identity).token(ids.honest)
      const url = `${honest.url}/api/v1/chunks/${manifest.sha256}/chunks/0`
      const denied = await fetch(url, { headers: { [PEER_TOKEN_HEADER]: token }, signal: signal() })
      expect(denied.status).toBe(403)
      expect(await denied.json()).toMatchObject({ error: 'AK_FORBIDDEN' })
      const anonymous = await fetch(url, { signal: signal() })
      expect(anonymous.status).toBe(401)
      // Admin credentials are no peer token either: the chunk routes are for mesh nodes only.
      const admin = await fetch(url, { headers: { authorization: honest.adminAuth }, signal: signal() })
      expect(admin.status).toBe(401)
    } finally {
      await outsider.stop()
    }
  })
})
