export * from './constants.ts'
export * from './errors.ts'
export * from './digests.ts'
export * from './paths.ts'
export * from './hlc.ts'
export type { BlobDriver, ByteRange, DriverObject } from './blob-driver.ts'
export { createFsDriver, removeTree } from './fs-driver.ts'
export { createMemoryDriver } from './memory-driver.ts'
export { createS3Driver, type S3DriverInit } from './s3-driver.ts'
export { createBlobStore, type BlobStore, type BlobStoreOptions, type IngestOptions } from './blob-store.ts'
export { openDb, migrate, loadMigrations, MIGRATIONS_DIR, type Db, type Migration, type OpenDbOptions } from './db.ts'
export { createBlobIndex, type BlobIndex, type BlobRecord } from './blob-index.ts'
export { createRemoteBlobs, type RemoteBlobs } from './remote-blobs.ts'
export { createBlobHoldings, type BlobHoldings, type HoldingChange, type HoldingChanges } from './held-blobs.ts'
export { createProfileStore, TRANSFER_KINDS, type ProfileStore, type StoredProfile, type StoredRtt, type StoredThroughput, type TransferKind } from './peer-profiles.ts'
export {
  createReplicationLog,
  signingBytes,
  signingText,
  chainOf,
  chainOfText,
  GENESIS_CHAIN,
  isLocalOrigin,
  LOCAL_ORIGIN_PREFIX,
  type ReplicationLog,
  type ReplicationEvent,
  type EventKind,
  type AppendInput,
  type SignedEvent,
  type EventSigner,
  type ReplicationLogOptions,
} from './replication-log.ts'
export * from './repositories.ts'
export { LOCAL_SECRET_SETTINGS, MASKED_SECRET, maskedSettings, sealPlainSecrets, type SealReport } from './repository-secrets.ts'
export { createSecretBox, isSealed, loadOrCreateSecretKey, SECRET_KEY_FILE, SEALED_PREFIX, type SecretBox, type SecretKeyOptions } from './secret-box.ts'
export * from './artifacts.ts'
export { createPointerStore, MAX_POINTER_NAME_LENGTH, MAX_POINTER_VALUE_BYTES, type Pointer, type PointerStore } from './pointers.ts'
export * from './auth-store.ts'
export { fsck, gc, type FsckReport, type FsckProblem, type FsckOptions, type GcOptions, type GcReport } from './maintenance.ts'
export { openStore, secureDataDir, type Store, type OpenStoreInit } from './open-store.ts'
export {
  HashingTransform,
  bodyWatchdog,
  consumeGuarded,
  guardedBody,
  rateSampleInterval,
  type BodyWatchdog,
  type BodyWatchdogOptions,
  type ClientBodyLimits,
} from './stream-guards.ts'
export { createFreeSpaceMonitor, FREE_SPACE_REFRESH, type FreeSpaceListener, type FreeSpaceMonitor, type FreeSpaceMonitorInit } from './free-space.ts'
export type { FormatReplicationHooks, ReplicatedArtifactChange, ReplicatedPointerChange } from './replication-hooks.ts'
export * from './apply/index.ts'
export { globToRegExp, globsMatcher } from './glob.ts'
