import type { Db } from '../db.ts'
import type { ReplicationLog } from '../replication-log.ts'
import { createEventApplier, type EventApplier, type EventApplierOptions } from './applier.ts'
import { listConflicts, replicationState, type ReplicationConflict, type ReplicationState } from './state.ts'
import { createStagedImport, type StagedImport } from './staged-import.ts'

export { createEventApplier, type EventApplier, type EventApplierOptions, type RemoteBlob } from './applier.ts'
export { listConflicts, replicationState, type ReplicationConflict, type ReplicationState } from './state.ts'
export type { HookErrorHandler, RefusedHandler } from './hooks-pointers.ts'
export { APPLY_BATCH_EVENTS, MAX_LISTED_CHANGES, type StagedBlob, type StagedImport, type StagedImportOutcome } from './staged-import.ts'
export {
  effectiveReplication,
  selectsNode,
  contentFilter,
  type ReplicationSettings,
  type ReplicationMode,
  type ReplicationFilters,
  type SelfDescription,
  type ContentFilter,
} from './selection.ts'

/**
 * The replicated state of a node as other layers see it: the one applier of replicated events
 * (mesh sync and bundle import both apply through it), the state hash nodes compare, and the
 * conflicts immutable repositories kept.
 */
export interface ReplicatedState {
  applier(options?: EventApplierOptions): EventApplier
  state(): ReplicationState
  conflicts(): ReplicationConflict[]
  /** Starts staging a verified bundle's events and blobs (bundle import), applied later in one transaction. */
  stageImport(): StagedImport
}

export function createReplicatedState(db: Db, log: ReplicationLog): ReplicatedState {
  return {
    applier: (options) => createEventApplier(db, log, options),
    state: () => replicationState(db, log),
    conflicts: () => listConflicts(db),
    stageImport: () => createStagedImport(db, log),
  }
}
