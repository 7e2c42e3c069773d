import type { ChunkSource, SourceDirectory } from '../../scheduler/index.ts'
import type { MeshHost, MeshLogger } from '../host.ts'
import { MAX_PARTIAL_CANDIDATES, PROVIDER_DIAL_TIMEOUT } from './constants.ts'
import type { BlobLocation, MeshContent } from './content-service.ts'

export interface MeshDirectoryComponents {
  host: MeshHost
  content: MeshContent
  /** The chunk sources reaching one peer (libp2p stream, HTTP port…): injected, so this folder never depends on them. */
  makeSources: (peerId: string, signal: AbortSignal) => ChunkSource[] | Promise<ChunkSource[]>
  logger?: MeshLogger
}

/** The swarm's SourceDirectory over the mesh, plus `locate` for the management API. */
export interface MeshDirectory extends SourceDirectory {
  /**
   * Sources that may hold `sha256`: connected peers whose have-summary holds it first, then
   * DHT providers (dialled when not connected), then other connected peers as possible partial
   * holders (at most MAX_PARTIAL_CANDIDATES), deduplicated, this node excluded.
   */
  sources(sha256: string, signal: AbortSignal): Promise<ChunkSource[]>
  locate(sha256: string, signal: AbortSignal): Promise<BlobLocation>
}

export function createMeshDirectory(components: MeshDirectoryComponents): MeshDirectory {
  const { host, content, makeSources } = components
  const log = components.logger
  return {
    async sources(sha256, signal) {
      const peers: string[] = content.summaryHolders(sha256)
      const seen = new Set([...peers, host.peerId])
      const { providers, error } = await content.findProviders(sha256, signal)
      if (error) log?.debug({ sha256, err: error }, 'content: DHT provider lookup failed')
      const connected = new Set(host.connectedPeers())
      const dials: Promise<string | undefined>[] = []
      for (const p of providers) {
        if (seen.has(p.peerId)) continue
        seen.add(p.peerId)
        // A connected peer whose current summary says no has deleted the blob since it announced it.
        if (content.summarySays(p.peerId, sha256) === false) continue
        if (connected.has(p.peerId)) {
          peers.push(p.peerId)
          continue
        }
        dials.push(
          host.connect(p.peerId, AbortSignal.any([signal, AbortSignal.timeout(PROVIDER_DIAL_TIMEOUT)])).then(
            () => p.peerId,
            (err: unknown) => {
              log?.debug({ peer: p.peerId, err: (err as Error).message }, 'content: could not dial a DHT provider')
              return undefined
            },
          ),
        )
      }
      for (const peer of await Promise.all(dials)) if (peer) peers.push(peer)
      // Partial holders: summaries and provider records name complete holders only, so nodes
      // fetching the same blob at the same time would never find each other (issue #5, "partial
      // holders serve"). Connected peers are candidates; their have-maps say what they hold.
      let candidates = 0
      for (const p of connected) {
        if (seen.has(p) || candidates >= MAX_PARTIAL_CANDIDATES) continue
        seen.add(p)
        peers.push(p)
        candidates++
      }
      const sources: ChunkSource[] = []
      const ids = new Set<string>()
      const perPeer = await Promise.all(
        peers.map(async (peer) => {
          try {
            return await makeSources(peer, signal)
          } catch (err) {
            log?.debug({ peer, err: (err as Error).message }, 'content: no chunk source for a holder')
            return []
          }
        }),
      )
      for (const list of perPeer) {
        for (const s of list) {
          if (ids.has(s.id)) continue
          ids.add(s.id)
          sources.push(s)
        }
      }
      return sources
    },
    locate: (sha256, signal) => content.locate(sha256, signal),
  }
}
