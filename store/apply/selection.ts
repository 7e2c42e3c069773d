import { globsMatcher } from '../glob.ts'

/*
 * Per-repository replication settings (settings.replication of a repository) and the decisions
 * the applier takes from them: does this node materialise the repository, and which of its
 * paths and tags. Pure logic; docs/mesh.md "Replication settings" describes the semantics.
 */

export type ReplicationMode = 'eager' | 'lazy' | 'local-only'

export interface ReplicationFilters {
  /** Globs on the artifact path. */
  paths?: string[]
  /** Globs on the package name a format records in the artifact's properties (else on the path). */
  packages?: string[]
  /** Globs on tag names (mutable pointers): the part after the last '/' of the pointer name. */
  tags?: string[]
}

export interface ReplicationSettings {
  mode: ReplicationMode
  /** 'all', or the peer IDs of the nodes that materialise the repository. */
  peers: 'all' | string[]
  /** A node materialises the repository when its own labels include all of these. */
  labels: Record<string, string>
  filters: ReplicationFilters
}

/** The replication settings of a repository of `type` with its stored settings object, defaults applied. */
export function effectiveReplication(type: string, settings: unknown): ReplicationSettings {
  const raw = (settings !== null && typeof settings === 'object' ? (settings as { replication?: unknown }).replication : undefined) as
    | Partial<ReplicationSettings>
    | undefined
  const mode = raw?.mode === 'eager' || raw?.mode === 'lazy' || raw?.mode === 'local-only' ? raw.mode : type === 'remote' ? 'lazy' : 'eager'
  const peers = Array.isArray(raw?.peers) ? raw.peers.filter((p): p is string => typeof p === 'string') : 'all'
  const labels: Record<string, string> = {}
  if (raw?.labels && typeof raw.labels === 'object') {
    for (const [k, v] of Object.entries(raw.labels)) if (typeof v === 'string') labels[k] = v
  }
  const f = (raw?.filters && typeof raw.filters === 'object' ? raw.filters : {}) as Record<string, unknown>
  const list = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined)
  const filters: ReplicationFilters = {}
  for (const k of ['paths', 'packages', 'tags'] as const) {
    const l = list(f[k])
    if (l) filters[k] = l
  }
  return { mode, peers, labels, filters }
}

/** Who this node is, for selection. */
export interface SelfDescription {
  peerId: string
  labels: Record<string, string>
}

/** Whether peers and labels select this node to materialise the repository (mode aside). */
export function selectsNode(r: ReplicationSettings, self: SelfDescription): boolean {
  if (r.peers !== 'all' && !r.peers.includes(self.peerId)) return false
  return Object.entries(r.labels).every(([k, v]) => self.labels[k] === v)
}

/** Compiled path/package/tag filters of one repository. */
export interface ContentFilter {
  /** Whether `path()` looks at the package name at all (package globs), so callers can skip working it out. */
  readonly usesProperties: boolean
  /**
   * Whether an artifact at `path` is materialised; `packageName` is what the repository's format
   * reads from the properties of the path's winning put (FormatReplicationHooks.packageName).
   */
  path(path: string, packageName?: string): boolean
  /** Whether a tag (a pointer name; its last segment is the tag) is materialised. */
  tag(pointerName: string): boolean
}

export function contentFilter(filters: ReplicationFilters): ContentFilter {
  const paths = filters.paths && filters.paths.length > 0 ? globsMatcher(filters.paths) : undefined
  const packages = filters.packages && filters.packages.length > 0 ? globsMatcher(filters.packages) : undefined
  const tags = filters.tags && filters.tags.length > 0 ? globsMatcher(filters.tags) : undefined
  return {
    usesProperties: packages !== undefined,
    path(path, packageName) {
      if (paths && !paths(path)) return false
      // Formats without a recorded package name: the package globs apply to the path.
      if (packages && !packages(packageName ?? path)) return false
      return true
    },
    tag(pointerName) {
      if (!tags) return true
      const slash = pointerName.lastIndexOf('/')
      return tags(slash < 0 ? pointerName : pointerName.slice(slash + 1))
    },
  }
}
