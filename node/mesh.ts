import { readFile } from 'node:fs/promises'
import type { Store } from '../store/index.ts'
import {
  corruptingLocalChunks,
  createChunkService,
  createMeshContent,
  createMeshDirectory,
  createMeshHost,
  createPeerSourceFactory,
  createPeerProfiles,
  createPeerTokenVerifier,
  createStoredBlobChunks,
  createSyncService,
  parseMeshKey,
  PROVIDER_VALIDITY_FACTOR,
  type ChunkService,
  type MeshContent,
  type MeshDirectory,
  type MeshHost,
  type MeshLogger,
  type PeerTokenVerifier,
  type NodeIdentity,
  type PeerProfiles,
  type SyncService,
} from '../mesh/index.ts'
import type { LocalChunks } from '../scheduler/index.ts'
import type { RemoteBlob } from '../store/index.ts'
import { ConfigError, type Config } from './config.ts'
import { formatReplicationHooks } from './formats.ts'

/**
 * Whether this node joins the mesh. Explicit `mesh.enabled` wins; unset, the mesh is on exactly
 * when a mesh key is configured. So a plain `npm start` (and every single-node test) opens no
 * libp2p port, and a closed mesh never starts open by accident.
 */
export function meshEnabled(config: Config): boolean {
  return config.mesh.enabled ?? (config.mesh.key !== undefined || config.mesh.keyFile !== undefined)
}

/** The private-network key from mesh.key or mesh.keyFile, undefined when neither is set. */
export async function readMeshKey(config: Config): Promise<Uint8Array | undefined> {
  const { key, keyFile } = config.mesh
  if (key !== undefined && keyFile !== undefined) throw new ConfigError('set either AK_MESH_KEY or AK_MESH_KEY_FILE, not both')
  let text = key
  if (keyFile !== undefined) {
    try {
      text = await readFile(keyFile, 'utf8')
    } catch (err) {
      throw new ConfigError(`cannot read mesh key file ${keyFile}: ${(err as Error).message}`)
    }
  }
  if (text === undefined) return undefined
  try {
    return parseMeshKey(text)
  } catch (err) {
    throw new ConfigError(`mesh.key (${keyFile ? 'AK_MESH_KEY_FILE' : 'AK_MESH_KEY'}): ${(err as Error).message}`)
  }
}

export interface NodeMesh {
  host: MeshHost
  sync: SyncService
  /** RTT, throughput, load and failures of every peer: the scheduler's SourceFeedback. */
  profiles: PeerProfiles
  /** Serves '/ak/chunk/1.0.0' from `servedChunks`. */
  chunks: ChunkService
  /** What peers get from this node over both chunk transports (corrupted under faults.corruptChunks). */
  servedChunks: LocalChunks
  /** Checks the tokens of the HTTP chunk transport (signers must prove the mesh key and be members). */
  peerTokens: PeerTokenVerifier
  /** Content location: DHT provider records of held blobs, have-summaries with direct peers. */
  content: MeshContent
  /** The swarm's SourceDirectory (holders by summary, then DHT), and `locate` for the API. */
  directory: MeshDirectory
  start(): Promise<void>
  stop(): Promise<void>
}

export interface NodeMeshOptions {
  /** What this node holds, served to peers. @default the store's complete blobs (createStoredBlobChunks) */
  local?: LocalChunks
  /** This node's HTTP URL once it listens; advertised to peers unless mesh.httpUrl is set. */
  httpUrl?: () => string | undefined
  /**
   * Blobs recorded from replicated events without their bytes, with their repository's mode:
   * wire to the scheduler (eager: scheduler.fetch(sha256) now; lazy: nothing, fetched on first
   * request). @default a no-op (the blobs wait for their first request)
   */
  onRemoteBlobs?: (blobs: RemoteBlob[]) => void
}

/** Builds (without starting) the node's mesh host, or undefined when the mesh is off. */
export async function createNodeMesh(
  config: Config,
  identity: NodeIdentity,
  store: Store,
  logger: MeshLogger,
  options: NodeMeshOptions = {},
): Promise<NodeMesh | undefined> {
  if (!meshEnabled(config)) return undefined
  const psk = await readMeshKey(config)
  if (!psk) logger.warn({}, 'mesh enabled without a mesh key: any libp2p peer that finds this port can join')
  const host = createMeshHost({
    identity,
    host: config.mesh.host,
    port: config.mesh.port,
    bootstrap: config.mesh.bootstrap,
    labels: config.mesh.labels,
    psk,
    allow: config.mesh.allow,
    logger,
    providerValidityMs: config.mesh.provideIntervalMs * PROVIDER_VALIDITY_FACTOR,
  })
  const sync = createSyncService({
    host,
    replicated: store.replicated,
    log: store.log,
    logger,
    // Formats keep their index tables (npm versions, OCI tags…) in step with replicated changes.
    hooks: formatReplicationHooks({ db: store.db, pointers: store.pointers }),
    // Per-repository replication settings (docs/mesh.md): labels select, auto-create, eager blobs.
    labels: config.mesh.labels,
    autoCreateRepositories: config.mesh.autoCreateRepositories,
    onRemoteBlobs: options.onRemoteBlobs ?? (() => {}),
  })
  const profiles = createPeerProfiles(
    { host, store: store.peerProfiles, logger },
    { pingIntervalMs: config.mesh.pingIntervalMs, probeBytes: config.mesh.probeBytes },
  )
  const local = options.local ?? createStoredBlobChunks(store.blobs, store.blobIndex)
  if (config.faults.corruptChunks) logger.warn({}, 'AK_FAULT_CORRUPT_CHUNKS is on: this node serves CORRUPTED chunks to its peers (test only)')
  const servedChunks = config.faults.corruptChunks ? corruptingLocalChunks(local) : local
  const chunks = createChunkService({ host, local: servedChunks, logger }, { httpUrl: () => config.mesh.httpUrl ?? options.httpUrl?.() })
  const content = createMeshContent(
    { host, holdings: store.holdings, logger },
    { labels: config.mesh.labels, load: () => chunks.inFlight(), provideIntervalMs: config.mesh.provideIntervalMs },
  )
  profiles.usePeerInfo((peerId) => content.peerInfo(peerId))
  const peerSources = createPeerSourceFactory(host, identity, psk ? { psk } : {})
  const directory = createMeshDirectory({ host, content, makeSources: (peerId, signal) => peerSources.sourcesFor(peerId, signal), logger })
  const allow = new Set(config.mesh.allow)
  const peerTokens = createPeerTokenVerifier({
    audience: identity.peerId,
    // In a closed mesh a token must prove the mesh key too (its mac), as libp2p's pnet handshake does.
    ...(psk ? { psk } : {}),
    // A member: not banned, and connected now or on the allowlist (when there is one).
    isMember: (peerId) => !host.penalties.banned(peerId) && ((allow.size > 0 && allow.has(peerId)) || host.connectedPeers().includes(peerId)),
  })
  return {
    host,
    sync,
    profiles,
    chunks,
    servedChunks,
    peerTokens,
    content,
    directory,
    async start() {
      await host.start()
      await sync.start()
      await profiles.start()
      await chunks.start()
      await content.start()
    },
    async stop() {
      content.stop()
      chunks.stop()
      profiles.stop()
      sync.stop()
      await host.stop()
    },
  }
}
