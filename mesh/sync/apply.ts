import { createHash } from 'node:crypto'
import { compareHlc, CHUNK_SIZE, type Db, type Hlc, type ReplicationLog, type SignedEvent } from '../../store/index.ts'

interface PathEvent {
  origin: string
  seq: number
  hlc: Hlc
  kind: string
  sha256: string | null
  payload: string
}

interface PutPayload {
  size?: number
  contentType?: string | null
  properties?: Record<string, unknown>
  blob?: { sha1?: string; md5?: string; sha512?: string; chunkManifest?: string }
}

/** Total order of events: HLC, then origin peer ID (the tie-break every node applies alike). */
function order(a: PathEvent, b: PathEvent): number {
  return compareHlc(a.hlc, b.hlc) || (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0) || a.seq - b.seq
}

export interface EventApplier {
  /** Stores and applies verified events in one transaction; returns how many were new. */
  apply(events: SignedEvent[]): number
}

/**
 * Applies replicated events to the local tables. Each artifact path's state is recomputed from
 * every event held for it, so the result does not depend on the order events arrive in:
 * - deletes are tombstones: a put wins only when its HLC is above the latest delete's;
 * - immutable repositories: the earliest put (lowest HLC, then origin) wins, the others with
 *   different bytes are kept in replication_conflicts;
 * - other repositories: the latest put wins (last writer by HLC).
 * Repository create/update/delete: the latest event by HLC wins.
 */
export function createEventApplier(db: Db, log: ReplicationLog): EventApplier {
  const pathEvents = db.prepare(`SELECT origin, seq, hlc_ms, hlc_counter, kind, sha256, payload FROM events
    WHERE repo = ? AND path = ? AND kind IN ('artifact.put', 'artifact.delete')`)
  const repoEvents = db.prepare(`SELECT origin, seq, hlc_ms, hlc_counter, kind, sha256, payload FROM events
    WHERE repo = ? AND path IS NULL AND kind IN ('repo.create', 'repo.update', 'repo.delete')`)
  const getRepo = db.prepare('SELECT key, settings FROM repositories WHERE key = ?')
  const upsertRepo = db.prepare(`INSERT INTO repositories (key, format, type, description, public, settings, created_at, updated_at)
    VALUES (@key, @format, @type, @description, @public, @settings, @now, @now)
    ON CONFLICT (key) DO UPDATE SET description = excluded.description, public = excluded.public,
      settings = excluded.settings, updated_at = excluded.updated_at`)
  const deleteRepoArtifacts = db.prepare('DELETE FROM artifacts WHERE repo = ?')
  const deleteRepoPermissions = db.prepare('DELETE FROM permissions WHERE repo = ?')
  const deleteRepo = db.prepare('DELETE FROM repositories WHERE key = ?')
  const getArtifact = db.prepare('SELECT sha256, properties, content_type FROM artifacts WHERE repo = ? AND path = ?')
  const upsertArtifact = db.prepare(`INSERT INTO artifacts (repo, path, dir, sha256, size, content_type, properties, created_by, created_at, updated_at)
    VALUES (@repo, @path, @dir, @sha256, @size, @content_type, @properties, NULL, @created, @now)
    ON CONFLICT (repo, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
      content_type = excluded.content_type, properties = excluded.properties, updated_at = excluded.updated_at`)
  const deleteArtifact = db.prepare('DELETE FROM artifacts WHERE repo = ? AND path = ?')
  const getBlob = db.prepare('SELECT 1 FROM blobs WHERE sha256 = ?')
  const insertBlob = db.prepare(`INSERT OR IGNORE INTO blobs (sha256, size, sha1, md5, sha512, chunk_size, chunk_manifest, created_at, touched_at)
    VALUES (@sha256, @size, @sha1, @md5, @sha512, @chunk_size, @chunk_manifest, @now, @now)`)
  const insertRemoteBlob = db.prepare('INSERT OR IGNORE INTO remote_blobs (sha256, origin, recorded_at) VALUES (?, ?, ?)')
  const deleteConflicts = db.prepare('DELETE FROM replication_conflicts WHERE repo = ? AND path = ?')
  const insertConflict = db.prepare(`INSERT OR REPLACE INTO replication_conflicts (repo, path, loser_origin, loser_seq, loser_sha256,
      loser_hlc_ms, loser_hlc_counter, winner_origin, winner_seq, winner_sha256, detected_at)
    VALUES (@repo, @path, @loser_origin, @loser_seq, @loser_sha256, @loser_hlc_ms, @loser_hlc_counter,
      @winner_origin, @winner_seq, @winner_sha256, @now)`)

  type Row = { origin: string; seq: number; hlc_ms: number; hlc_counter: number; kind: string; sha256: string | null; payload: string }
  const toEvent = (r: Row): PathEvent => ({
    origin: r.origin,
    seq: r.seq,
    hlc: { ms: r.hlc_ms, counter: r.hlc_counter },
    kind: r.kind,
    sha256: r.sha256,
    payload: r.payload,
  })

  const recomputeRepo = (repo: string): void => {
    const events = (repoEvents.all(repo) as Row[]).map(toEvent).sort(order)
    const last = events[events.length - 1]
    if (!last) return
    if (last.kind === 'repo.delete') {
      deleteRepoArtifacts.run(repo)
      deleteRepoPermissions.run(repo)
      deleteRepo.run(repo)
      return
    }
    const p = JSON.parse(last.payload) as { format?: string; type?: string; description?: string; public?: boolean; settings?: unknown }
    if (typeof p.format !== 'string' || !['local', 'remote', 'virtual'].includes(p.type as string)) return
    upsertRepo.run({
      key: repo,
      format: p.format,
      type: p.type,
      description: p.description ?? '',
      public: p.public ? 1 : 0,
      settings: JSON.stringify(p.settings ?? {}),
      now: last.hlc.ms,
    })
  }

  const recomputePath = (repo: string, path: string): void => {
    const repoRow = getRepo.get(repo) as { settings: string } | undefined
    if (!repoRow) return
    const immutable = (JSON.parse(repoRow.settings) as { immutable?: boolean }).immutable === true
    const events = (pathEvents.all(repo, path) as Row[]).map(toEvent).sort(order)
    let lastDelete: PathEvent | undefined
    for (const e of events) if (e.kind === 'artifact.delete') lastDelete = e
    const live = events.filter((e) => e.kind === 'artifact.put' && e.sha256 && (!lastDelete || order(e, lastDelete) > 0))
    deleteConflicts.run(repo, path)
    if (live.length === 0) {
      deleteArtifact.run(repo, path)
      return
    }
    let winner: PathEvent
    if (immutable) {
      const first = live[0] as PathEvent
      // Same bytes re-put later (a yank, new properties) still counts: take the newest of the winner's bytes.
      winner = live.filter((e) => e.sha256 === first.sha256).pop() as PathEvent
      for (const loser of live) {
        if (loser.sha256 === first.sha256) continue
        insertConflict.run({
          repo,
          path,
          loser_origin: loser.origin,
          loser_seq: loser.seq,
          loser_sha256: loser.sha256,
          loser_hlc_ms: loser.hlc.ms,
          loser_hlc_counter: loser.hlc.counter,
          winner_origin: first.origin,
          winner_seq: first.seq,
          winner_sha256: first.sha256,
          now: Date.now(),
        })
      }
    } else {
      winner = live[live.length - 1] as PathEvent
    }
    const sha256 = winner.sha256 as string
    const p = JSON.parse(winner.payload) as PutPayload
    const properties = JSON.stringify(p.properties ?? {})
    const current = getArtifact.get(repo, path) as { sha256: string; properties: string; content_type: string | null } | undefined
    if (current && current.sha256 === sha256 && current.properties === properties && current.content_type === (p.contentType ?? null)) return
    if (!getBlob.get(sha256)) {
      // Metadata only: the bytes are fetched later (the swarm). Without digests we cannot even
      // record the blob row (events from before digests travelled), so the path stays absent.
      const b = p.blob
      if (!b || typeof b.sha1 !== 'string' || typeof b.md5 !== 'string' || typeof b.sha512 !== 'string' || typeof p.size !== 'number') return
      insertBlob.run({
        sha256,
        size: p.size,
        sha1: b.sha1,
        md5: b.md5,
        sha512: b.sha512,
        chunk_size: CHUNK_SIZE,
        chunk_manifest: Buffer.from(b.chunkManifest ?? '', 'hex'),
        now: Date.now(),
      })
      insertRemoteBlob.run(sha256, winner.origin, Date.now())
    }
    const slash = path.lastIndexOf('/')
    upsertArtifact.run({
      repo,
      path,
      dir: slash < 0 ? '' : path.slice(0, slash),
      sha256,
      size: p.size ?? 0,
      content_type: p.contentType ?? null,
      properties,
      created: winner.hlc.ms,
      now: Date.now(),
    })
  }

  const applyAll = db.transaction((events: SignedEvent[]): number => {
    let added = 0
    const repos = new Set<string>()
    const paths = new Map<string, { repo: string; path: string }>()
    for (const e of events) {
      if (!log.insertRemote(e)) continue
      added++
      if (e.kind.startsWith('repo.')) repos.add(e.repo)
      else if (e.path !== null) paths.set(`${e.repo}\u0000${e.path}`, { repo: e.repo, path: e.path })
    }
    for (const r of repos) recomputeRepo(r)
    for (const { repo, path } of paths.values()) recomputePath(repo, path)
    return added
  })
  return { apply: (events) => applyAll(events) }
}

export interface ReplicationState {
  /** sha256 over the canonical dump of repositories, artifacts and tombstones. */
  hash: string
  versionVector: Record<string, number>
  repositories: number
  artifacts: number
  tombstones: number
}

/**
 * A hash of this node's replicated state, equal on every node that holds the same events: one
 * JSON line per repository (key, format, type), artifact (repo, path, sha256) and tombstone
 * (repo, path deleted and not re-published), in key order.
 */
export function replicationState(db: Db, log: ReplicationLog): ReplicationState {
  const h = createHash('sha256')
  let repositories = 0
  let artifacts = 0
  let tombstones = 0
  for (const r of db.prepare('SELECT key, format, type FROM repositories ORDER BY key').iterate() as IterableIterator<{ key: string; format: string; type: string }>) {
    h.update(`${JSON.stringify(['repo', r.key, r.format, r.type])}\n`)
    repositories++
  }
  for (const a of db.prepare('SELECT repo, path, sha256 FROM artifacts ORDER BY repo, path').iterate() as IterableIterator<{ repo: string; path: string; sha256: string }>) {
    h.update(`${JSON.stringify(['artifact', a.repo, a.path, a.sha256])}\n`)
    artifacts++
  }
  const tomb = db.prepare(`SELECT DISTINCT e.repo, e.path FROM events e WHERE e.kind = 'artifact.delete'
      AND EXISTS (SELECT 1 FROM repositories r WHERE r.key = e.repo)
      AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.repo = e.repo AND a.path = e.path) ORDER BY e.repo, e.path`)
  for (const t of tomb.iterate() as IterableIterator<{ repo: string; path: string }>) {
    h.update(`${JSON.stringify(['tombstone', t.repo, t.path])}\n`)
    tombstones++
  }
  return { hash: h.digest('hex'), versionVector: log.versionVector(), repositories, artifacts, tombstones }
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
