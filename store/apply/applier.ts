import { CHUNK_SIZE } from '../constants.ts'
import type { Db } from '../db.ts'
import { compareHlc, type Hlc } from '../hlc.ts'
import { REPOSITORY_KEY } from '../paths.ts'
import { LOCAL_ORIGIN_PREFIX, type ReplicationLog, type SignedEvent } from '../replication-log.ts'
import type { FormatReplicationHooks } from '../replication-hooks.ts'
import { createRemoteBlobs } from '../remote-blobs.ts'
import { LOCAL_SECRET_SETTINGS } from '../repository-secrets.ts'
import { createHookDispatch, createPointerApplier, isPointerKind, type HookErrorHandler, type RefusedHandler } from './hooks-pointers.ts'
import { contentFilter, effectiveReplication, selectsNode, type ContentFilter, type ReplicationMode, type SelfDescription } from './selection.ts'

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
  /**
   * Applies every held event of `repo` again (repository, then all paths and pointers): after it
   * was created here by an admin, left local-only mode, or this node became selected for it.
   */
  rematerialise(repo: string): void
}

/** A blob recorded from a replicated event without its bytes: the swarm fetches it (eager) or waits (lazy). */
export interface RemoteBlob {
  sha256: string
  repo: string
  mode: Exclude<ReplicationMode, 'local-only'>
}

export interface EventApplierOptions {
  /** The formats' hooks that keep their index tables in step (npm versions, OCI tags…). */
  hooks?: readonly FormatReplicationHooks[]
  /** Called when a hook throws (its own writes are rolled back; the batch still applies). */
  onHookError?: HookErrorHandler
  /**
   * Called for a path or pointer name that fails the store's or its format's name rules: it is
   * left unmaterialised (its events are kept), as a client's upload of it would have been refused.
   */
  onRefused?: RefusedHandler
  /**
   * This node's peer ID and labels, matched against each repository's replication peers and
   * labels. Undefined: every repository selects this node.
   */
  self?: SelfDescription
  /**
   * Create a repository this node lacks when its events arrive (with the origin's settings).
   * When false the events are kept and applied once an admin creates it. @default true
   */
  autoCreate?: boolean
  /** Blobs recorded without bytes by an apply, after its transaction committed. */
  onRemoteBlobs?: (blobs: RemoteBlob[]) => void
}

/**
 * Applies replicated events to the local tables. Each artifact path's state is recomputed from
 * every event held for it, so the result does not depend on the order events arrive in:
 * - deletes are tombstones: a put wins only when its HLC is above the latest delete's;
 * - immutable repositories: the earliest put (lowest HLC, then origin) wins, the others with
 *   different bytes are kept in replication_conflicts;
 * - other repositories: the latest put wins (last writer by HLC).
 * Repository create/update/delete: the latest event by HLC wins. Pointer events: apply-pointers.ts.
 * Formats' hooks (options.hooks) see every recomputed path and pointer, in the same transaction.
 */
export function createEventApplier(db: Db, log: ReplicationLog, options: EventApplierOptions = {}): EventApplier {
  const hooks = createHookDispatch(db, options.hooks ?? [], options.onHookError)
  const pointers = createPointerApplier(db, hooks)
  const pathEvents = db.prepare(`SELECT origin, seq, hlc_ms, hlc_counter, kind, sha256, payload FROM events
    WHERE repo = ? AND path = ? AND kind IN ('artifact.put', 'artifact.delete') AND origin NOT LIKE '${LOCAL_ORIGIN_PREFIX}%'`)
  // Fast path for a path's first event (most of a catch-up): which events the path has, from the
  // index alone. When the only one is the event being applied, it need not be read back.
  const pathEventIds = db.prepare('SELECT origin, seq FROM events WHERE repo = ? AND path = ? LIMIT 2').raw()
  const repoEvents = db.prepare(`SELECT origin, seq, hlc_ms, hlc_counter, kind, sha256, payload FROM events
    WHERE repo = ? AND path IS NULL AND kind IN ('repo.create', 'repo.update', 'repo.delete') AND origin NOT LIKE '${LOCAL_ORIGIN_PREFIX}%'`)
  const getRepo = db.prepare('SELECT key, type, settings FROM repositories WHERE key = ?')
  const upsertRepo = db.prepare(`INSERT INTO repositories (key, format, type, description, public, settings, created_at, updated_at)
    VALUES (@key, @format, @type, @description, @public, @settings, @now, @now)
    ON CONFLICT (key) DO UPDATE SET description = excluded.description, public = excluded.public,
      settings = excluded.settings, updated_at = excluded.updated_at`)
  const deleteRepoArtifacts = db.prepare('DELETE FROM artifacts WHERE repo = ?')
  const deleteRepoPermissions = db.prepare('DELETE FROM permissions WHERE repo = ?')
  const deleteRepo = db.prepare('DELETE FROM repositories WHERE key = ?')
  const getArtifact = db.prepare('SELECT sha256, properties, content_type FROM artifacts WHERE repo = ? AND path = ?')
  // Positional parameters in the statements run once per applied event (cheaper to bind than named ones).
  const upsertArtifact = db.prepare(`INSERT INTO artifacts (repo, path, dir, sha256, size, content_type, properties, created_by, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)
    ON CONFLICT (repo, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
      content_type = excluded.content_type, properties = excluded.properties, updated_at = excluded.updated_at`)
  const deleteArtifact = db.prepare('DELETE FROM artifacts WHERE repo = ? AND path = ?')
  const getBlob = db.prepare('SELECT 1 FROM blobs WHERE sha256 = ?')
  const insertBlob = db.prepare(`INSERT OR IGNORE INTO blobs (sha256, size, sha1, md5, sha512, chunk_size, chunk_manifest, created_at, touched_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const remote = createRemoteBlobs(db)
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

  const autoCreate = options.autoCreate ?? true
  const remoteBlobs: RemoteBlob[] = []
  /** Compiled replication settings, by the settings text they came from. */
  const compiled = new Map<string, Materialisation>()
  interface Materialisation {
    /** This node applies other nodes' content events of the repository. */
    applies: boolean
    mode: RemoteBlob['mode']
    filter: ContentFilter
  }
  const materialisationOf = (type: string, settingsText: string): Materialisation => {
    const key = `${type}\u0000${settingsText}`
    let m = compiled.get(key)
    if (!m) {
      const r = effectiveReplication(type, JSON.parse(settingsText) as unknown)
      m = {
        applies: r.mode !== 'local-only' && (!options.self || selectsNode(r, options.self)),
        mode: r.mode === 'local-only' ? 'lazy' : r.mode,
        filter: contentFilter(r.filters),
      }
      if (compiled.size > 1000) compiled.clear()
      compiled.set(key, m)
    }
    return m
  }
  type RepoRow = { key: string; type: string; settings: string }
  /** The repository here and how this node treats others' events for it; undefined when absent. */
  type LocalRepo = Materialisation & { row: RepoRow; immutable: boolean }
  /** Per batch (cleared when a batch starts and when a repository event is applied). */
  const repoCache = new Map<string, LocalRepo | undefined>()
  const localRepo = (repo: string): LocalRepo | undefined => {
    if (repoCache.has(repo)) return repoCache.get(repo)
    const row = getRepo.get(repo) as RepoRow | undefined
    const here = row && { row, ...materialisationOf(row.type, row.settings), immutable: (JSON.parse(row.settings) as { immutable?: boolean }).immutable === true }
    repoCache.set(repo, here)
    return here
  }

  /**
   * Replicated settings never carry upstream credentials (store/repositories.ts replicatedSettings),
   * and any an event has anyway are ignored: keep this node's own (as stored, sealed with its secret
   * key) while the upstream URL stays the same.
   */
  const withLocalSecrets = (incoming: unknown, localText: string | undefined): unknown => {
    const settings = (incoming && typeof incoming === 'object' ? incoming : {}) as Record<string, unknown>
    const given = settings.upstream && typeof settings.upstream === 'object' ? (settings.upstream as Record<string, unknown>) : undefined
    if (!given) return settings
    const up = Object.fromEntries(Object.entries(given).filter(([k]) => !(LOCAL_SECRET_SETTINGS as readonly string[]).includes(k)))
    const local = localText ? (JSON.parse(localText) as { upstream?: Record<string, unknown> }) : {}
    if (!local.upstream || up.url !== local.upstream.url) return { ...settings, upstream: up }
    const kept = Object.fromEntries(LOCAL_SECRET_SETTINGS.filter((k) => local.upstream?.[k] !== undefined).map((k) => [k, local.upstream?.[k]]))
    return { ...settings, upstream: { ...up, ...kept } }
  }

  const recomputeRepo = (repo: string): void => {
    if (!REPOSITORY_KEY.test(repo)) {
      options.onRefused?.({ repo, path: '', reason: `invalid repository key '${repo.slice(0, 80)}'` })
      return
    }
    const here = getRepo.get(repo) as RepoRow | undefined
    // Local-only here: this node's copy is detached; others' events are kept, not applied.
    if (here && effectiveReplication(here.type, JSON.parse(here.settings) as unknown).mode === 'local-only') return
    const events = (repoEvents.all(repo) as Row[]).map(toEvent).sort(order)
    const last = events[events.length - 1]
    if (!last) return
    if (!here) {
      // Not here: create it only when auto-create is on and the origin's settings select this node.
      if (last.kind === 'repo.delete' || !autoCreate) return
      const p = JSON.parse(last.payload) as { type?: unknown; settings?: unknown }
      if (typeof p.type !== 'string' || !materialisationOf(p.type, JSON.stringify(p.settings ?? {})).applies) return
    }
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
      settings: JSON.stringify(withLocalSecrets(p.settings, here?.settings)),
      now: last.hlc.ms,
    })
  }

  /**
   * Whether `applied` (an event of this batch) is the only event held for its path: then the path's
   * events need not be read back, and no artifact row can be there yet (every artifact row comes
   * with an event of its path, local ones included).
   */
  const onlyEventOfPath = (repo: string, path: string, applied: SignedEvent | undefined): boolean => {
    if (!applied) return false
    const ids = pathEventIds.all(repo, path) as [string, number][]
    const only = ids.length === 1 ? ids[0] : undefined
    return only !== undefined && only[0] === applied.origin && only[1] === applied.seq
  }

  const recomputePath = (repo: string, path: string, applied?: SignedEvent): void => {
    const here = localRepo(repo)
    if (!here?.applies) return
    // Names from peers are checked as a client's would be: a path no upload could have made stays out.
    const problem = hooks.pathProblem(repo, path)
    if (problem !== undefined) {
      options.onRefused?.({ repo, path, reason: problem })
      return
    }
    const immutable = here.immutable && !hooks.isMutablePath(repo, path)
    const first = applied !== undefined && onlyEventOfPath(repo, path, applied)
    const events: PathEvent[] =
      first && applied
        ? [{ origin: applied.origin, seq: applied.seq, hlc: applied.hlc, kind: applied.kind, sha256: applied.sha256, payload: applied.payload }]
        : (pathEvents.all(repo, path) as Row[]).map(toEvent).sort(order)
    // Filters: an excluded path is left as it is here (never removed), its events kept.
    const latestPut = here.filter.usesProperties ? events.filter((e) => e.kind === 'artifact.put').pop() : undefined
    const packageName = latestPut && hooks.packageName(repo, (JSON.parse(latestPut.payload) as PutPayload).properties)
    if (!here.filter.path(path, packageName)) return
    let lastDelete: PathEvent | undefined
    for (const e of events) if (e.kind === 'artifact.delete') lastDelete = e
    const live = events.filter((e) => e.kind === 'artifact.put' && e.sha256 && (!lastDelete || order(e, lastDelete) > 0))
    // Conflicts need two puts: a path with a single event has none to clear (the common case).
    if (events.length > 1) deleteConflicts.run(repo, path)
    if (live.length === 0) {
      deleteArtifact.run(repo, path)
      hooks.artifactChanged(repo, path)
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
    // A path's first event: nothing to compare with (were a row there after all, the upsert below still converges).
    const current = first ? undefined : (getArtifact.get(repo, path) as { sha256: string; properties: string; content_type: string | null } | undefined)
    if (current && current.sha256 === sha256 && current.properties === properties && current.content_type === (p.contentType ?? null)) return
    const b = p.blob
    const digests = b && typeof b.sha1 === 'string' && typeof b.md5 === 'string' && typeof b.sha512 === 'string' && typeof p.size === 'number'
    // Without digests we cannot even record the blob row (events from before digests travelled):
    // unless the blob is here already, the path stays absent.
    if (!digests && !getBlob.get(sha256)) return
    const now = Date.now()
    if (digests && insertBlob.run(sha256, p.size, b.sha1, b.md5, b.sha512, CHUNK_SIZE, Buffer.from(b.chunkManifest ?? '', 'hex'), now, now).changes > 0) {
      // A new blob row: metadata only, the bytes are fetched later (the swarm).
      remote.record(sha256, winner.origin, now)
      remoteBlobs.push({ sha256, repo, mode: here.mode })
    }
    const slash = path.lastIndexOf('/')
    upsertArtifact.run(repo, path, slash < 0 ? '' : path.slice(0, slash), sha256, p.size ?? 0, p.contentType ?? null, properties, winner.hlc.ms, now)
    hooks.artifactChanged(repo, path)
  }

  const applyAll = db.transaction((events: SignedEvent[]): number => {
    repoCache.clear()
    hooks.reset()
    let added = 0
    const repos = new Set<string>()
    // applied: the batch's one event for the path (undefined when it brought several).
    const paths = new Map<string, { repo: string; path: string; applied: SignedEvent | undefined }>()
    const names = new Map<string, { repo: string; name: string }>()
    for (const e of events) {
      if (!log.insertRemote(e)) continue
      added++
      if (e.kind.startsWith('repo.')) repos.add(e.repo)
      else if (e.path !== null && isPointerKind(e.kind)) names.set(`${e.repo}\u0000${e.path}`, { repo: e.repo, name: e.path })
      else if (e.path !== null) {
        const key = `${e.repo}\u0000${e.path}`
        const seen = paths.get(key)
        if (seen) seen.applied = undefined
        else paths.set(key, { repo: e.repo, path: e.path, applied: e })
      }
    }
    const whole = new Set<string>()
    for (const r of repos) {
      const before = localRepo(r)
      recomputeRepo(r)
      repoCache.delete(r)
      hooks.reset()
      const after = localRepo(r)
      // Newly selected (or new settings, e.g. filters): apply everything held for it from the log.
      if (after?.applies && (!before?.applies || before.row.settings !== after.row.settings)) {
        rematerialiseContent(r)
        whole.add(r)
      }
    }
    for (const { repo, path, applied } of paths.values()) if (!whole.has(repo)) recomputePath(repo, path, applied)
    for (const { repo, name } of names.values()) if (!whole.has(repo)) recomputePointer(repo, name)
    return added
  })

  const recomputePointer = (repo: string, name: string): void => {
    const here = localRepo(repo)
    if (!here?.applies || !here.filter.tag(name)) return
    const problem = hooks.pointerProblem(repo, name)
    if (problem !== undefined) {
      options.onRefused?.({ repo, path: name, reason: problem })
      return
    }
    pointers.recompute(repo, name)
  }
  const contentPaths = db.prepare(`SELECT DISTINCT path, kind IN ('pointer.set', 'pointer.delete') AS pointer FROM events
    WHERE repo = ? AND path IS NOT NULL AND origin NOT LIKE '${LOCAL_ORIGIN_PREFIX}%'`)
  /** Recomputes every path and pointer of `repo` from the events held for it. */
  const rematerialiseContent = (repo: string): void => {
    for (const r of contentPaths.all(repo) as { path: string; pointer: number }[]) {
      if (r.pointer) recomputePointer(repo, r.path)
      else recomputePath(repo, r.path)
    }
  }
  const rematerialiseAll = db.transaction((repo: string) => {
    repoCache.clear()
    hooks.reset()
    recomputeRepo(repo)
    repoCache.delete(repo)
    hooks.reset()
    rematerialiseContent(repo)
  })

  /** Runs one applying transaction, then hands the blobs it recorded without bytes to onRemoteBlobs. */
  const reporting = <T>(fn: () => T): T => {
    remoteBlobs.length = 0
    let result: T
    try {
      result = fn()
    } catch (err) {
      remoteBlobs.length = 0
      throw err
    }
    const recorded = remoteBlobs.splice(0)
    if (recorded.length > 0) options.onRemoteBlobs?.(recorded)
    return result
  }
  return {
    apply: (events) => reporting(() => applyAll(events)),
    rematerialise: (repo) => reporting(() => rematerialiseAll(repo)),
  }
}
