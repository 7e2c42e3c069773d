import type { FastifyInstance, FastifyRequest } from 'fastify'
import { BlobNotFoundError, InvalidInputError, NotFoundError } from '../../store/index.ts'
import { chunkLength, haveToWire, manifestToWire, PEER_TOKEN_HEADER, type PeerTokenVerifier } from '../../mesh/index.ts'
import type { LocalChunks } from '../../scheduler/index.ts'

/** What the HTTP chunk transport needs; undefined while the mesh is off. */
export interface ChunkApiMesh {
  /** What this node serves (the same holdings as '/ak/chunk/1.0.0'). */
  local: LocalChunks
  peerTokens: PeerTokenVerifier
  /** Records a protocol violation by an authenticated peer. */
  penalise(peerId: string): void
}

const SHA256 = /^[0-9a-f]{64}$/
const INDEX = /^(0|[1-9][0-9]{0,9})$/

declare module 'fastify' {
  interface FastifyRequest {
    /** The mesh peer that signed this request's peer token (chunk routes only). */
    chunkPeer?: string
  }
}

function digestParam(request: FastifyRequest): string {
  const { sha256 } = request.params as { sha256: string }
  if (!SHA256.test(sha256)) throw new InvalidInputError(`'${sha256.slice(0, 80)}' is not a lowercase sha256 hex digest`)
  return sha256
}

/**
 * The HTTP chunk transport, for mesh peers only (docs/swarm.md, Transports):
 *   GET /api/v1/chunks/:sha256/manifest    → {sha256, size, chunkSize, chunks: base64 of the 32-byte digests}
 *   GET /api/v1/chunks/:sha256/have        → {have: 'all' | base64 bitmap}
 *   GET /api/v1/chunks/:sha256/chunks/:i   → the chunk's bytes (application/octet-stream)
 * Each request carries X-AK-Peer-Token: a JWT (EdDSA) signed by the requesting node's key and, in
 * a closed mesh, carrying a mac made with the mesh key (mesh/chunks/peer-token.ts): the same proof
 * of membership as libp2p's pnet handshake, so an allowlisted node key alone opens nothing.
 */
export function chunkRoutes(mesh: () => ChunkApiMesh | undefined) {
  return async function (app: FastifyInstance): Promise<void> {
    app.addHook('preHandler', async (request, reply) => {
      const m = mesh()
      if (!m) throw new NotFoundError('the mesh is off on this node: it serves no chunks')
      const header = request.headers[PEER_TOKEN_HEADER]
      try {
        request.chunkPeer = await m.peerTokens.verify(typeof header === 'string' ? header : undefined)
      } catch (err) {
        reply.header('www-authenticate', `AK-Peer-Token header="${PEER_TOKEN_HEADER}"`)
        throw err
      }
    })

    app.get('/chunks/:sha256/manifest', async (request) => {
      const sha256 = digestParam(request)
      const manifest = mesh()?.local.manifest(sha256)
      if (!manifest) throw new BlobNotFoundError(`this node knows no manifest of blob ${sha256}`)
      return manifestToWire(manifest)
    })

    app.get('/chunks/:sha256/have', async (request) => {
      const sha256 = digestParam(request)
      const have = mesh()?.local.have(sha256)
      if (have === undefined) throw new BlobNotFoundError(`this node holds no chunk of blob ${sha256}`)
      return { have: haveToWire(have) }
    })

    app.get('/chunks/:sha256/chunks/:index', async (request, reply) => {
      const sha256 = digestParam(request)
      const m = mesh() as ChunkApiMesh
      const raw = (request.params as { index: string }).index
      const manifest = m.local.manifest(sha256)
      if (!manifest) throw new BlobNotFoundError(`this node holds no chunk of blob ${sha256}`)
      const index = INDEX.test(raw) ? Number(raw) : -1
      const length = chunkLength(manifest, index)
      if (length < 0) {
        m.penalise(request.chunkPeer as string)
        throw new InvalidInputError(`chunk index '${raw.slice(0, 20)}' is outside blob ${sha256} (${manifest.chunks.length} chunks)`)
      }
      const bytes = await m.local.readChunk(sha256, index)
      if (!bytes) throw new BlobNotFoundError(`this node does not hold chunk ${index} of blob ${sha256}`)
      if (bytes.length !== length) throw new Error(`local chunk ${sha256}#${index} has ${bytes.length} bytes, expected ${length}`)
      reply.header('content-type', 'application/octet-stream')
      reply.header('content-length', String(length))
      reply.header('cache-control', 'no-store')
      return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    })
  }
}
