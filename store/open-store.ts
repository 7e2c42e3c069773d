import { chmodSync, mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { openDb, type Db } from './db.ts'
import { createBlobStore, type BlobStore } from './blob-store.ts'
import { createFreeSpaceMonitor, type FreeSpaceMonitor } from './free-space.ts'
import type { BlobDriver } from './blob-driver.ts'
import { createBlobIndex, type BlobIndex } from './blob-index.ts'
import { createReplicationLog, type EventSigner, type ReplicationLog } from './replication-log.ts'
import { createRepositoryStore, type RepositoryStore } from './repositories.ts'
import { createArtifactStore, type ArtifactStore } from './artifacts.ts'
import { createAuthStore, type AuthStore } from './auth-store.ts'
import { createPointerStore, type PointerStore } from './pointers.ts'
import { createRemoteBlobs, type RemoteBlobs } from './remote-blobs.ts'
import { createBlobHoldings, type BlobHoldings } from './held-blobs.ts'
import { createProfileStore, type ProfileStore } from './peer-profiles.ts'
import { createReplicatedState, type ReplicatedState } from './apply/index.ts'
import { createSecretBox, loadOrCreateSecretKey, SECRET_KEY_FILE } from './secret-box.ts'
import { sealPlainSecrets } from './repository-secrets.ts'
import { fsck, gc, type FsckOptions, type FsckReport, type GcOptions, type GcReport } from './maintenance.ts'

export interface Store {
  db: Db
  blobs: BlobStore
  blobIndex: BlobIndex
  /** Blobs known from replicated events whose bytes are elsewhere (the swarm fetches them). */
  remoteBlobs: RemoteBlobs
  /** The blobs held here in full, and the feed of changes to that set (what the mesh announces). */
  holdings: BlobHoldings
  /** What this node measured of its peers, kept across restarts. */
  peerProfiles: ProfileStore
  log: ReplicationLog
  /** Applies replicated events (mesh sync, bundle import); the state hash and conflicts. */
  replicated: ReplicatedState
  repositories: RepositoryStore
  artifacts: ArtifactStore
  /** Mutable pointers (npm dist-tags…): last writer wins by HLC across the mesh. */
  pointers: PointerStore
  auth: AuthStore
  /** Free space of the data directory's file system (uploads are refused while it is short). */
  space: FreeSpaceMonitor
  /** Throws unless the metadata database answers a query (the readiness probe). */
  check(): void
  /** Verifies every blob and artifact against the stored bytes (store/maintenance.ts). */
  fsck(options?: FsckOptions): Promise<FsckReport>
  /** Deletes blobs no artifact references, older than the grace period (store/maintenance.ts). */
  gc(options: GcOptions): Promise<GcReport>
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
  /**
   * File of the secret key that seals upstream credentials. A file named here must exist; the
   * default one is created on first use. @default `${dataDir}/secret-key`
   */
  secretKeyFile?: string
  /** Writes are refused while the data directory's file system has less free space than this. @default 0 (only a full disk) */
  minFreeBytes?: number
}

/**
 * The data directory is the node's alone: 0700, so nothing in it (blobs, uploads, keys, the
 * database) is readable by other users whatever mode a file got. An existing directory is
 * tightened; one this process does not own is left as it is.
 */
export function secureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  try {
    if ((statSync(dataDir).mode & 0o077) !== 0) chmodSync(dataDir, 0o700)
  } catch {
    // not ours to change (EPERM): the operator decided
  }
}

/** Opens the metadata database (applying migrations) and the blob store of a data directory. */
export function openStore(init: OpenStoreInit): Store {
  secureDataDir(init.dataDir)
  const key = init.secretKeyFile
    ? loadOrCreateSecretKey(init.secretKeyFile, { create: false })
    : loadOrCreateSecretKey(join(init.dataDir, SECRET_KEY_FILE))
  const secrets = createSecretBox(key)
  const db = openDb(init.dbFile ?? join(init.dataDir, 'metadata.db'), { migrationsDir: init.migrationsDir })
  try {
    sealPlainSecrets(db, secrets)
  } catch (err) {
    db.close()
    throw err
  }
  const space = createFreeSpaceMonitor({ path: init.dataDir, minFreeBytes: init.minFreeBytes ?? 0 })
  const blobs = createBlobStore(init.driver, join(init.dataDir, 'tmp'), { space })
  const blobIndex = createBlobIndex(db)
  const remoteBlobs = createRemoteBlobs(db)
  const log = createReplicationLog(db, init.nodeId, { sign: init.sign })
  const replicated = createReplicatedState(db, log)
  const repositories = createRepositoryStore(db, log, secrets)
  const artifacts = createArtifactStore(db, blobIndex, log)
  const auth = createAuthStore(db)
  const pointers = createPointerStore(db, log)
  const ping = db.prepare('SELECT 1')
  const check = () => void ping.get()
  const close = () => {
    space.close()
    db.close()
  }
  return {
    db,
    blobs,
    blobIndex,
    remoteBlobs,
    holdings: createBlobHoldings(db),
    peerProfiles: createProfileStore(db),
    log,
    replicated,
    repositories,
    artifacts,
    pointers,
    auth,
    space,
    check,
    fsck: (options) => fsck(db, blobs, blobIndex, artifacts, options),
    gc: (options) => gc(blobs, blobIndex, options),
    close,
  }
}
