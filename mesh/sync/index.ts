export * from './constants.ts'
export { createSyncService, verifyEvent, type SyncService, type SyncComponents, type SyncInit, type SyncStats } from './sync-service.ts'
export { createEventApplier, replicationState, listConflicts, type EventApplier, type ReplicationState, type ReplicationConflict } from './apply.ts'
export { SyncProtocolError } from './messages.ts'
