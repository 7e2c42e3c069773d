export * from './constants.ts'
export { createSyncService, type SyncService, type SyncComponents, type SyncInit, type SyncStats } from './sync-service.ts'
export { createEventApplier, replicationState, listConflicts, type EventApplier, type ReplicationState, type ReplicationConflict } from './apply.ts'
export { SyncProtocolError, decodeServerMessage, isEventsMessage, serverMessage, encode as encodeSyncMessage, toWire, fromWire, type WireEvent, type ServerMessage } from './messages.ts'
export type { RemoteBlob, EventApplierOptions } from './apply.ts'
export { createLagTracker, type OriginLag, type LagTracker } from './lag.ts'
export { createFloodGuard, NOTIFY_RATE, NOTIFY_BURST, PULL_RATE, PULL_BURST, MAX_STREAMS_PER_PEER, type FloodGuard, type FloodLimits } from './flood-guard.ts'
export {
  effectiveReplication,
  selectsNode,
  contentFilter,
  packageNameOf,
  type ReplicationSettings,
  type ReplicationMode,
  type ReplicationFilters,
  type SelfDescription,
  type ContentFilter,
} from './selection.ts'
export { verifyEvent, ChainVerifier, type ChainCheck } from './chain.ts'
