import { createHash } from 'node:crypto'
import type { Db } from '../db.ts'
import type { Hlc } from '../hlc.ts'
import { LOCAL_ORIGIN_PREFIX, type ReplicationLog } from '../replication-log.ts'

/*
 * What a node's replicated state is, for comparing nodes (GET /api/v1/replication/state, the
 * convergence tests) and for the conflicts an immutable repository kept (…/replication/conflicts).
 */

export interface ReplicationState {
  /** sha256 over the canonical dump of repositories, artifacts and tombstones. */
  hash: string
  versionVector: Record<string, number>
  repositories: number
  artifacts: number
  tombstones: number
  /** Mutable pointers held, tombstones of removed ones included. */
  pointers: number
}

/**
 * A hash of this node's replicated state, equal on every node that holds the same events: one
 * JSON line per repository (key, format, type), artifact (repo, path, sha256), tombstone
 * (repo, path deleted and not re-published) and pointer (repo, name, value), in key order.
 */
/** Repositories whose replication mode is local-only here: outside the replicated state. */
const LOCAL_ONLY_REPOS = `SELECT key FROM repositories WHERE json_extract(settings, '$.replication.mode') = 'local-only'`

export function replicationState(db: Db, log: ReplicationLog): ReplicationState {
  const h = createHash('sha256')
  let repositories = 0
  let artifacts = 0
  let tombstones = 0
  for (const r of db.prepare(`SELECT key, format, type FROM repositories WHERE key NOT IN (${LOCAL_ONLY_REPOS}) ORDER BY key`).iterate() as IterableIterator<{ key: string; format: string; type: string }>) {
    h.update(`${JSON.stringify(['repo', r.key, r.format, r.type])}\n`)
    repositories++
  }
  for (const a of db.prepare(`SELECT repo, path, sha256 FROM artifacts WHERE repo NOT IN (${LOCAL_ONLY_REPOS}) ORDER BY repo, path`).iterate() as IterableIterator<{ repo: string; path: string; sha256: string }>) {
    h.update(`${JSON.stringify(['artifact', a.repo, a.path, a.sha256])}\n`)
    artifacts++
  }
  const tomb = db.prepare(`SELECT DISTINCT e.repo, e.path FROM events e WHERE e.kind = 'artifact.delete'
      AND e.origin NOT LIKE '${LOCAL_ORIGIN_PREFIX}%' AND e.repo NOT IN (${LOCAL_ONLY_REPOS})
      AND EXISTS (SELECT 1 FROM repositories r WHERE r.key = e.repo)
      AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.repo = e.repo AND a.path = e.path) ORDER BY e.repo, e.path`)
  for (const t of tomb.iterate() as IterableIterator<{ repo: string; path: string }>) {
    h.update(`${JSON.stringify(['tombstone', t.repo, t.path])}\n`)
    tombstones++
  }
  // Pointers (dist-tags…): the winning value, or null for a removed one, of every (repo, name).
  let pointers = 0
  for (const p of db.prepare(`SELECT repo, name, value FROM pointers WHERE repo NOT IN (${LOCAL_ONLY_REPOS}) ORDER BY repo, name`).iterate() as IterableIterator<{ repo: string; name: string; value: string | null }>) {
    h.update(`${JSON.stringify(['pointer', p.repo, p.name, p.value])}\n`)
    pointers++
  }
  return { hash: h.digest('hex'), versionVector: log.versionVector(), repositories, artifacts, tombstones, pointers }
}

export interface ReplicationConflict {
  repo: string
  path: string
  winner: { origin: string; seq: number; sha256: string }
  loser: { origin: string; seq: number; sha256: string; hlc: Hlc }
  detectedAt: number
}

export function listConflicts(db: Db): ReplicationConflict[] {
  interface ConflictRow {
    repo: string
    path: string
    loser_origin: string
    loser_seq: number
    loser_sha256: string
    loser_hlc_ms: number
    loser_hlc_counter: number
    winner_origin: string
    winner_seq: number
    winner_sha256: string
    detected_at: number
  }
  const rows = db.prepare('SELECT * FROM replication_conflicts ORDER BY repo, path, loser_origin, loser_seq').all() as ConflictRow[]
  return rows.map((r) => ({
    repo: r.repo,
    path: r.path,
    winner: { origin: r.winner_origin, seq: r.winner_seq, sha256: r.winner_sha256 },
    loser: { origin: r.loser_origin, seq: r.loser_seq, sha256: r.loser_sha256, hlc: { ms: r.loser_hlc_ms, counter: r.loser_hlc_counter } },
    detectedAt: r.detected_at,
  }))
}
