import { createHash, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { Readable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import {
  createMeshHost,
  createPeerTokenVerifier,
  createStoredBlobChunks,
  loadOrCreateIdentity,
  parseMeshKey,
  type MeshHost,
  type NodeIdentity,
} from '../../mesh/index.ts'
import { CHUNK_SIZE, createFsDriver, openStore, type Store } from '../../store/index.ts'
import type { ChunkManifest, HaveMap, LocalChunks } from '../../scheduler/index.ts'
import { chunkRoutes, jsonErrorHandler } from '../../node/index.ts'
import { tempDir } from '../helpers/node-process.ts'
import { waitFor } from './mesh-helpers.ts'

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

export interface TestPeer {
  identity: NodeIdentity
  host: MeshHost
  /** The mesh key it was started with (pnet v1 bytes). */
  psk: Uint8Array | undefined
  dir: string
  stop(): Promise<void>
}

/** A started in-process mesh host with a fresh identity, on 127.0.0.1, any port. */
export async function startPeer(key: string | undefined, options: { bootstrap?: string[]; allow?: string[] } = {}): Promise<TestPeer> {
  const dir = tempDir('ak-chunks-')
  const identity = await loadOrCreateIdentity(dir)
  const psk = key ? parseMeshKey(key) : undefined
  const host = createMeshHost({ identity, port: 0, psk, bootstrap: options.bootstrap, allow: options.allow })
  await host.start()
  return {
    identity,
    host,
    psk,
    dir,
    async stop() {
      await host.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** `{psk}` of a peer started with a mesh key, for peer token signers, HTTP sources and verifiers (closed meshes ask tokens to prove the key). */
export const meshKeyOf = (peer: TestPeer): { psk?: Uint8Array } => (peer.psk ? { psk: peer.psk } : {})

/** Waits until `a` and `b` hold a connection to each other (start b with bootstrap: a.host.addresses()). */
export async function waitConnected(a: TestPeer, b: TestPeer): Promise<void> {
  await waitFor(
    'peers connected',
    async () => a.host.connectedPeers().includes(b.identity.peerId) && b.host.connectedPeers().includes(a.identity.peerId),
    10_000,
    50,
  )
}

/** A temp store holding one random blob of `size` bytes (complete). */
export async function storeWithBlob(size: number): Promise<{ store: Store; bytes: Buffer; sha256: string; dir: string; close(): void }> {
  const dir = tempDir('ak-chunks-store-')
  const store = openStore({ dataDir: dir, driver: createFsDriver(`${dir}/blobs`), nodeId: 'test' })
  const bytes = randomBytes(size)
  const digests = await store.blobs.ingest(Readable.from([bytes]))
  store.blobIndex.record(digests)
  return {
    store,
    bytes,
    sha256: digests.sha256,
    dir,
    close() {
      store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const storedChunks = (store: Store): LocalChunks => createStoredBlobChunks(store.blobs, store.blobIndex)

/** The manifest of `bytes`, computed here (what the requester trusts). */
export function manifestOf(bytes: Buffer): ChunkManifest {
  const chunks: string[] = []
  for (let at = 0; at < bytes.length; at += CHUNK_SIZE) chunks.push(sha256(bytes.subarray(at, Math.min(bytes.length, at + CHUNK_SIZE))))
  return { sha256: sha256(bytes), size: bytes.length, chunkSize: CHUNK_SIZE, chunks }
}

/**
 * An in-memory partial holder (the LocalChunks port's memory implementation): holds the chunks
 * granted so far, notifies listeners as they grow, and can hold chunk reads until released.
 */
export function partialHolder(bytes: Buffer): LocalChunks & { grant(index: number): void; gate: { hold: boolean; release(): void } } {
  const manifest = manifestOf(bytes)
  const bitmap = new Uint8Array(Math.ceil(manifest.chunks.length / 8))
  const listeners = new Set<(sha: string, have: HaveMap) => void>()
  let waiting: (() => void)[] = []
  const gate = {
    hold: false,
    release() {
      const w = waiting
      waiting = []
      for (const r of w) r()
    },
  }
  const held = (i: number) => ((bitmap[i >> 3] as number) & (1 << (i & 7))) !== 0
  const all = () => manifest.chunks.every((_c, i) => held(i))
  return {
    gate,
    have: (s) => (s !== manifest.sha256 || bitmap.every((b) => b === 0) ? undefined : all() ? 'all' : new Uint8Array(bitmap)),
    manifest: (s) => (s === manifest.sha256 ? manifest : undefined),
    async readChunk(s, i) {
      if (s !== manifest.sha256 || !held(i)) return undefined
      if (gate.hold) await new Promise<void>((r) => waiting.push(r))
      return new Uint8Array(bytes.subarray(i * CHUNK_SIZE, Math.min(bytes.length, (i + 1) * CHUNK_SIZE)))
    },
    onHaveChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    grant(i) {
      bitmap[i >> 3] = (bitmap[i >> 3] as number) | (1 << (i & 7))
      const have: HaveMap = all() ? 'all' : new Uint8Array(bitmap)
      for (const l of listeners) l(manifest.sha256, have)
    },
  }
}

/** The HTTP chunk routes of `peer` on a real loopback listener, with the node's JSON errors (and its mesh key, as a node has). */
export async function serveHttpChunks(peer: TestPeer, local: LocalChunks, allow: string[] = []): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false })
  app.setErrorHandler(jsonErrorHandler)
  const allowSet = new Set(allow)
  const peerTokens = createPeerTokenVerifier({
    audience: peer.identity.peerId,
    ...meshKeyOf(peer),
    isMember: (id) => !peer.host.penalties.banned(id) && ((allowSet.size > 0 && allowSet.has(id)) || peer.host.connectedPeers().includes(id)),
  })
  await app.register(chunkRoutes(() => ({ local, peerTokens, penalise: (id) => peer.host.penalties.penalise(id, 'malformed') })), { prefix: '/api/v1' })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, url }
}

/** Fetches every chunk of `manifest` from `fetch` with `depth` requests in flight; returns the blob. */
export async function fetchAll(manifest: ChunkManifest, fetch: (index: number) => Promise<Uint8Array>, depth = 8): Promise<Buffer> {
  const out = Buffer.alloc(manifest.size)
  let next = 0
  const worker = async () => {
    while (next < manifest.chunks.length) {
      const i = next++
      const bytes = await fetch(i)
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).copy(out, i * manifest.chunkSize)
    }
  }
  await Promise.all(Array.from({ length: Math.min(depth, manifest.chunks.length) }, worker))
  return out
}
