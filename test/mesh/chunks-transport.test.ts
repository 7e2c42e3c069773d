import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lpStream } from '@libp2p/utils'
import { SignJWT } from 'jose'
import type { FastifyInstance } from 'fastify'
import {
  CHUNK_PROTOCOL,
  PEER_TOKEN_HEADER,
  createChunkService,
  createHttpChunkSource,
  createLibp2pChunkSource,
  createPeerTokenSigner,
  corruptingLocalChunks,
  ed25519PrivateKeyObject,
  fetchPeerChunkInfo,
  generateMeshKey,
  type ChunkService,
} from '../../mesh/index.ts'
import { SourceError, type ChunkManifest, type ChunkSource } from '../../scheduler/index.ts'
import { CHUNK_SIZE } from '../../store/index.ts'
import {
  fetchAll,
  manifestOf,
  meshKeyOf,
  partialHolder,
  serveHttpChunks,
  sha256,
  startPeer,
  storeWithBlob,
  storedChunks,
  waitConnected,
  type TestPeer,
} from './chunks-helpers.ts'
import { waitFor } from './mesh-helpers.ts'

// 5.5 MiB: six chunks, the last one short, so chunk bounds are exercised.
const BLOB_SIZE = 5 * CHUNK_SIZE + CHUNK_SIZE / 2
const MISSING = 'f'.repeat(64)
const signal = () => AbortSignal.timeout(10_000)

describe('chunk transports between two in-process mesh hosts', () => {
  let key: string
  let a: TestPeer // serves
  let b: TestPeer // fetches
  let blob: Awaited<ReturnType<typeof storeWithBlob>>
  let service: ChunkService
  let http: { app: FastifyInstance; url: string }
  let trusted: ChunkManifest

  beforeAll(async () => {
    key = generateMeshKey()
    blob = await storeWithBlob(BLOB_SIZE)
    trusted = manifestOf(blob.bytes)
    a = await startPeer(key)
    http = await serveHttpChunks(a, storedChunks(blob.store))
    service = createChunkService({ host: a.host, local: storedChunks(blob.store) }, { httpUrl: () => http.url })
    await service.start()
    b = await startPeer(key, { bootstrap: a.host.addresses() })
    await waitConnected(a, b)
  })
  afterAll(async () => {
    service?.stop()
    await http?.app.close()
    await Promise.all([a?.stop(), b?.stop()])
    blob?.close()
  })

  const sources = (): ChunkSource[] => [
    createLibp2pChunkSource(b.host, a.identity.peerId),
    createHttpChunkSource({ identity: b.identity, peerId: a.identity.peerId, baseUrl: http.url, ...meshKeyOf(b) }),
  ]

  it('both transports hand over the manifest, the have-map and every chunk, and the blob digest matches', async () => {
    for (const source of sources()) {
      expect(await source.have(blob.sha256, signal())).toBe('all')
      const manifest = await source.manifest(blob.sha256, signal())
      expect(manifest).toEqual(trusted)
      const got = await fetchAll(trusted, async (i) => {
        const bytes = await source.fetchChunk(blob.sha256, i, signal())
        expect(sha256(bytes), `${source.kind} chunk ${i}`).toBe(trusted.chunks[i])
        return bytes
      })
      expect(sha256(got), source.kind).toBe(blob.sha256)
    }
    expect(service.stats().bytesSent).toBe(BLOB_SIZE)
  })

  it('a blob the peer does not hold: no have-map, no manifest, chunk refused', async () => {
    for (const source of sources()) {
      expect(await source.have(MISSING, signal())).toBeUndefined()
      expect(await source.manifest(MISSING, signal())).toBeUndefined()
      const err = await source.fetchChunk(MISSING, 0, signal()).catch((e: unknown) => e)
      expect(err, source.kind).toBeInstanceOf(SourceError)
      expect((err as SourceError).reason).toBe('refused')
    }
  })

  it('the peer advertises its HTTP URL and load in its info answer', async () => {
    const info = await fetchPeerChunkInfo(b.host, a.identity.peerId, signal())
    expect(info.httpUrl).toBe(http.url)
    expect(info.inFlight).toBe(0)
    expect(info.maxInFlight).toBe(service.maxInFlight())
  })

  describe('HTTP denials', () => {
    const url = () => `${http.url}/api/v1/chunks/${blob.sha256}/chunks/0`
    const get = async (token: string | undefined, path = url()) => {
      const res = await fetch(path, { headers: token ? { [PEER_TOKEN_HEADER]: token } : {}, signal: signal() })
      const text = await res.text()
      return { status: res.status, text }
    }

    it('refuses a request without a token (401, JSON error)', async () => {
      const r = await get(undefined)
      expect(r.status).toBe(401)
      expect(JSON.parse(r.text)).toMatchObject({ error: 'AK_UNAUTHORIZED' })
    })

    it('refuses a valid token from a node that is not a mesh member (403)', async () => {
      const outsider = await startPeer(undefined)
      try {
        const token = await createPeerTokenSigner(outsider.identity).token(a.identity.peerId)
        const r = await get(token)
        expect(r.status).toBe(403)
        expect(JSON.parse(r.text)).toMatchObject({ error: 'AK_FORBIDDEN' })
        const source = createHttpChunkSource({ identity: outsider.identity, peerId: a.identity.peerId, baseUrl: http.url })
        const err = await source.fetchChunk(blob.sha256, 0, signal()).catch((e: unknown) => e)
        expect((err as SourceError).reason).toBe('refused')
      } finally {
        await outsider.stop()
      }
    })

    it('refuses an expired token (401)', async () => {
      const past = Date.now() - 5 * 60_000
      const token = await createPeerTokenSigner(b.identity, { now: () => past, ...meshKeyOf(b) }).token(a.identity.peerId)
      const r = await get(token)
      expect(r.status).toBe(401)
      expect(r.text).toContain('expired')
    })

    it('refuses a token for another audience (401)', async () => {
      const token = await createPeerTokenSigner(b.identity, meshKeyOf(b)).token(b.identity.peerId)
      const r = await get(token)
      expect(r.status).toBe(401)
      expect(r.text).toContain('aud')
    })

    it('refuses a token signed by another key than its issuer claims (forged, 401)', async () => {
      const forger = await startPeer(undefined)
      try {
        const real = await createPeerTokenSigner(forger.identity).token(a.identity.peerId)
        // Re-sign the forger's claims with iss = B (a member) but the forger's key.
        const [, payload] = real.split('.')
        const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString()) as Record<string, unknown>
        const forged = await new SignJWT({ ...claims, iss: b.identity.peerId })
          .setProtectedHeader({ alg: 'EdDSA' })
          .sign(ed25519PrivateKeyObject(forger.identity.privateKey))
        const r = await get(forged)
        expect(r.status).toBe(401)
        expect(r.text).toContain('signature')
      } finally {
        await forger.stop()
      }
    })

    it('refuses a token that lives longer than 60 s (401)', async () => {
      const now = Math.floor(Date.now() / 1000)
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA' })
        .setIssuer(b.identity.peerId)
        .setAudience(a.identity.peerId)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .setJti('long-lived')
        .sign(ed25519PrivateKeyObject(b.identity.privateKey))
      const r = await get(token)
      expect(r.status).toBe(401)
      expect(r.text).toContain('longer than 60 s')
    })

    it('answers a bad index 400 and penalises the (authenticated) peer; a bad digest 400', async () => {
      const token = await createPeerTokenSigner(b.identity, meshKeyOf(b)).token(a.identity.peerId)
      const before = a.host.penalties.score(b.identity.peerId)
      const r = await get(token, `${http.url}/api/v1/chunks/${blob.sha256}/chunks/6`)
      expect(r.status).toBe(400)
      expect(a.host.penalties.score(b.identity.peerId)).toBeGreaterThan(before)
      const r2 = await get(token, `${http.url}/api/v1/chunks/NOT-A-DIGEST/chunks/0`)
      expect(r2.status).toBe(400)
      const r3 = await get(token, `${http.url}/api/v1/chunks/${blob.sha256}/chunks/-1`)
      expect(r3.status).toBe(400)
    })
  })

  describe('libp2p: every request is hostile', () => {
    const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))

    it('a bad digest, an index past the blob, an unknown type, non-JSON and an oversized frame each reset the stream and cost penalty points', async () => {
      // A peer of its own: its penalty score starts at zero (B's carries the HTTP tests' points).
      const rude = await startPeer(key, { bootstrap: a.host.addresses() })
      try {
        await waitConnected(a, rude)
        /** Sends one raw frame on a fresh stream; resolves true when A reset the stream (no answer). */
        const rawRequest = async (frame: Uint8Array): Promise<boolean> => {
          const stream = await rude.host.openStream(a.identity.peerId, CHUNK_PROTOCOL, signal())
          const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
          await lp.write(frame).catch(() => {})
          try {
            await lp.read({ signal: signal() })
            return false
          } catch {
            return true
          } finally {
            stream.abort(new Error('test done'))
          }
        }
        const cases: [string, Uint8Array][] = [
          ['bad digest', json({ type: 'chunk', sha256: 'ABC', index: 0 })],
          ['index out of range', json({ type: 'chunk', sha256: blob.sha256, index: 6 })],
          ['unknown type', json({ type: 'delete', sha256: blob.sha256 })],
          ['not JSON', new TextEncoder().encode('{nope')],
          ['oversized frame', new Uint8Array(64 * 1024)],
        ]
        const id = rude.identity.peerId
        for (const [what, frame] of cases) {
          const before = service.stats().malformed
          const score = a.host.penalties.score(id)
          expect(await rawRequest(frame), what).toBe(true)
          await waitFor(`${what} counted`, async () => service.stats().malformed === before + 1, 5000, 20)
          // Five violations reach the ban threshold: the last one bans instead of adding points.
          expect(a.host.penalties.banned(id) || a.host.penalties.score(id) > score, what).toBe(true)
        }
        expect(a.host.penalties.banned(id)).toBe(true)
        await waitFor('banned peer disconnected', async () => !a.host.connectedPeers().includes(id), 5000, 50)
      } finally {
        await rude.stop()
      }
    })
  })
})

describe('chunk transports: partial holders, load and a lying peer', () => {
  let key: string
  let a: TestPeer
  let b: TestPeer
  const bytes = Buffer.alloc(3 * CHUNK_SIZE, 7)
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251
  const holder = partialHolder(bytes)
  const manifest = manifestOf(bytes)
  let service: ChunkService

  beforeAll(async () => {
    key = generateMeshKey()
    a = await startPeer(key)
    service = createChunkService({ host: a.host, local: holder }, { maxInFlightPerPeer: 1 })
    await service.start()
    b = await startPeer(key, { bootstrap: a.host.addresses() })
    await waitConnected(a, b)
  })
  afterAll(async () => {
    service?.stop()
    await Promise.all([a?.stop(), b?.stop()])
  })

  it('a watcher gets the partial have-map at once and each growth pushed, up to all', async () => {
    const source = createLibp2pChunkSource(b.host, a.identity.peerId)
    holder.grant(0)
    const seen: string[] = []
    const ac = new AbortController()
    source.watchHave?.(manifest.sha256, (have) => seen.push(have === 'all' ? 'all' : Buffer.from(have).toString('hex')), ac.signal)
    await waitFor('initial map', async () => seen.length >= 1, 5000, 20)
    expect(seen[0]).toBe('01')
    holder.grant(2)
    await waitFor('growth pushed', async () => seen.includes('05'), 5000, 20)
    expect(await source.have(manifest.sha256, signal())).toEqual(new Uint8Array([5]))
    holder.grant(1)
    await waitFor('complete pushed', async () => seen.includes('all'), 5000, 20)
    ac.abort()
  })

  it('inFlight() counts requests being served; past the per-peer cap a request is refused as busy', async () => {
    const source = createLibp2pChunkSource(b.host, a.identity.peerId)
    holder.gate.hold = true
    const first = source.fetchChunk(manifest.sha256, 0, signal())
    await waitFor('one request in flight', async () => service.inFlight() === 1, 5000, 10)
    const second = await source.fetchChunk(manifest.sha256, 1, signal()).catch((e: unknown) => e)
    expect(second).toBeInstanceOf(SourceError)
    expect((second as SourceError).reason).toBe('refused')
    holder.gate.hold = false
    holder.gate.release()
    expect(sha256(await first)).toBe(manifest.chunks[0])
    await waitFor('nothing in flight', async () => service.inFlight() === 0, 5000, 10)
    expect(service.stats().busy).toBeGreaterThanOrEqual(1)
  })

  it('a peer serving through corruptingLocalChunks hands over chunks that fail their digest, with true manifests', async () => {
    const liar = await startPeer(key, { bootstrap: a.host.addresses() })
    const lying = createChunkService({ host: liar.host, local: corruptingLocalChunks(holder) })
    await lying.start()
    try {
      await waitFor('liar connected', async () => a.host.connectedPeers().includes(liar.identity.peerId), 10_000, 50)
      const source = createLibp2pChunkSource(a.host, liar.identity.peerId)
      expect(await source.manifest(manifest.sha256, signal())).toEqual(manifest)
      for (let i = 0; i < manifest.chunks.length; i++) {
        const got = await source.fetchChunk(manifest.sha256, i, signal())
        expect(got.length).toBe(CHUNK_SIZE)
        expect(sha256(got)).not.toBe(manifest.chunks[i])
      }
    } finally {
      lying.stop()
      await liar.stop()
    }
  })

  it('a peer without the mesh key cannot open the chunk protocol', async () => {
    const stranger = await startPeer(generateMeshKey(), { bootstrap: a.host.addresses() })
    try {
      const source = createLibp2pChunkSource(stranger.host, a.identity.peerId, { idleTimeoutMs: 3000 })
      const err = await source.have(manifest.sha256, signal()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SourceError)
      expect((err as SourceError).reason).toBe('gone')
      expect(a.host.connectedPeers()).not.toContain(stranger.identity.peerId)
    } finally {
      await stranger.stop()
    }
  })
})
