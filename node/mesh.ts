import { readFile } from 'node:fs/promises'
import type { Store } from '../store/index.ts'
import { createMeshHost, createSyncService, parseMeshKey, type MeshHost, type MeshLogger, type NodeIdentity, type SyncService } from '../mesh/index.ts'
import { ConfigError, type Config } from './config.ts'

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
  start(): Promise<void>
  stop(): Promise<void>
}

/** Builds (without starting) the node's mesh host, or undefined when the mesh is off. */
export async function createNodeMesh(config: Config, identity: NodeIdentity, store: Store, logger: MeshLogger): Promise<NodeMesh | undefined> {
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
  })
  const sync = createSyncService({ host, db: store.db, log: store.log, logger })
  return {
    host,
    sync,
    async start() {
      await host.start()
      await sync.start()
    },
    async stop() {
      sync.stop()
      await host.stop()
    },
  }
}
