import type { ChunkSource } from '../../scheduler/index.ts'
import type { MeshHost } from '../host.ts'
import type { NodeIdentity } from '../identity.ts'
import { PEER_INFO_TTL } from './constants.ts'
import { createHttpChunkSource } from './http-source.ts'
import { createLibp2pChunkSource, fetchPeerChunkInfo } from './libp2p-source.ts'
import { createPeerTokenSigner } from './peer-token.ts'

/** Builds the chunk sources of a mesh peer: libp2p always, HTTP when the peer advertises a URL. */
export interface PeerSourceFactory {
  /** The sources of `peerId` (libp2p first); asks the peer's `info` once per PEER_INFO_TTL. */
  sourcesFor(peerId: string, signal: AbortSignal): Promise<ChunkSource[]>
}

export interface PeerSourceFactoryInit {
  /** Offer the HTTP transport when a peer advertises one. @default true */
  http?: boolean
  /** The mesh key (pnet v1 bytes): HTTP peer tokens prove it, as closed meshes require. @default none (an open mesh) */
  psk?: Uint8Array
}

export function createPeerSourceFactory(host: MeshHost, identity: NodeIdentity, init: PeerSourceFactoryInit = {}): PeerSourceFactory {
  const signer = createPeerTokenSigner(identity, init.psk ? { psk: init.psk } : {})
  const info = new Map<string, { httpUrl: string | null; at: number }>()
  return {
    async sourcesFor(peerId, signal) {
      const sources: ChunkSource[] = [createLibp2pChunkSource(host, peerId)]
      if (init.http === false) return sources
      let known = info.get(peerId)
      if (!known || Date.now() - known.at > PEER_INFO_TTL) {
        try {
          known = { httpUrl: (await fetchPeerChunkInfo(host, peerId, signal)).httpUrl, at: Date.now() }
        } catch {
          known = { httpUrl: null, at: Date.now() }
        }
        if (info.size > 4096) info.clear()
        info.set(peerId, known)
      }
      if (known.httpUrl) sources.push(createHttpChunkSource({ identity, peerId, baseUrl: known.httpUrl, signer }))
      return sources
    },
  }
}
