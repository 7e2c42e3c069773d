import { join } from 'node:path'
import { createFsDriver, createS3Driver, openStore, secureDataDir, type BlobDriver, type Store } from '../store/index.ts'
import type { NodeIdentity } from '../mesh/index.ts'
import type { Config } from './config.ts'

export function createDriver(config: Config): BlobDriver {
  if (config.storage.backend === 's3') {
    const s3 = config.storage.s3
    return createS3Driver({
      bucket: s3.bucket as string,
      endpoint: s3.endpoint,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: s3.forcePathStyle,
      prefix: s3.prefix,
      partSize: s3.partSize,
    })
  }
  return createFsDriver(join(config.dataDir, 'blobs'))
}

/** Opens a data directory's identity and store: what `serve` and the maintenance commands share. */
export async function openDataDir(config: Config): Promise<{ identity: NodeIdentity; store: Store }> {
  // mesh/ is imported lazily: its index also loads libp2p, which maintenance commands never use.
  const { createEventSigner, loadOrCreateIdentity } = await import('../mesh/index.ts')
  secureDataDir(config.dataDir)
  const identity = await loadOrCreateIdentity(config.dataDir)
  const store = openStore({
    dataDir: config.dataDir,
    driver: createDriver(config),
    nodeId: identity.peerId,
    sign: createEventSigner(identity.privateKey),
    secretKeyFile: config.secretKeyFile,
    minFreeBytes: config.storage.minFreeBytes,
  })
  return { identity, store }
}
