import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { openDb, type Db } from './db.ts'
import { createBlobStore, type BlobStore } from './blob-store.ts'
import type { BlobDriver } from './blob-driver.ts'
import { createBlobIndex, type BlobIndex } from './blob-index.ts'
import { createReplicationLog, type EventSigner, type ReplicationLog } from './replication-log.ts'
import { createRepositoryStore, type RepositoryStore } from './repositories.ts'
import { createArtifactStore, type ArtifactStore } from './artifacts.ts'
import { createAuthStore, type AuthStore } from './auth-store.ts'
import { createPointerStore, type PointerStore } from './pointers.ts'

export interface Store {
  db: Db
  blobs: BlobStore
  blobIndex: BlobIndex
  log: ReplicationLog
  repositories: RepositoryStore
  artifacts: ArtifactStore
  /** Mutable pointers (npm dist-tags…): last writer wins by HLC across the mesh. */
  pointers: PointerStore
  auth: AuthStore
  close(): void
}

export interface OpenStoreInit {
  dataDir: string
  driver: BlobDriver
  /** This node's ID, the origin of the events it appends. */
  nodeId: string
  /** Signs every appended event with the node's key (see ReplicationLogOptions.sign). */
  sign?: EventSigner
  /** @default `${dataDir}/metadata.db` */
  dbFile?: string
  migrationsDir?: string
}

/** Opens the metadata database (applying migrations) and the blob store of a data directory. */
export function openStore(init: OpenStoreInit): Store {
  mkdirSync(init.dataDir, { recursive: true })
  const db = openDb(init.dbFile ?? join(init.dataDir, 'metadata.db'), { migrationsDir: init.migrationsDir })
  const blobs = createBlobStore(init.driver, join(init.dataDir, 'tmp'))
  const blobIndex = createBlobIndex(db)
  const log = createReplicationLog(db, init.nodeId, { sign: init.sign })
  const repositories = createRepositoryStore(db, log)
  const artifacts = createArtifactStore(db, blobIndex, log)
  const auth = createAuthStore(db)
  const pointers = createPointerStore(db, log)
  return { db, blobs, blobIndex, log, repositories, artifacts, pointers, auth, close: () => db.close() }
}
