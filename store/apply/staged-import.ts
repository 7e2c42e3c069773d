import { CHUNK_SIZE } from '../constants.ts'
import type { Db } from '../db.ts'
import type { ReplicationLog, SignedEvent } from '../replication-log.ts'
import type { FormatReplicationHooks } from '../replication-hooks.ts'
import { createEventApplier } from './applier.ts'
import { replicationState } from './state.ts'

/** At most this many paths are listed per kind of change (the counts are always exact). */
export const MAX_LISTED_CHANGES = 1000

/** Events applied per applier call while a staged import is applied (bounds memory, not the transaction). */
export const APPLY_BATCH_EVENTS = 500

/** A blob whose bytes an import verified (and stored, unless it already was or this is a dry run). */
export interface StagedBlob {
  sha256: string
  size: number
  sha1: string
  md5: string
  sha512: string
  chunkManifest: Buffer
  /** This run wrote its bytes. */
  stored: boolean
}

/** What applying the staged events changed (or, in a dry run, would change). */
export interface StagedImportOutcome {
  /** Events this node did not hold before. */
  newEvents: number
  repositories: { created: string[]; deleted: string[] }
  artifacts: { added: number; changed: number; removed: number; list: { added: string[]; changed: string[]; removed: string[] } }
  /** The replication state hash before and after. */
  state: { before: string; after: string }
}

/**
 * Verified events and blobs of a bundle, waiting to be applied. Staged rows live in TEMP tables
 * of this connection: nothing references a staged blob, so nothing serves it, until apply()
 * records the blob rows and applies the events in one transaction, through the same applier as
 * mesh sync. Only one staged import exists per store at a time (the data-dir lock).
 */
export interface StagedImport {
  /** Stages one verified event with its chain value (the node's log keeps both). */
  event(e: SignedEvent & { chain: Uint8Array }): void
  /** Stages one verified blob. */
  blob(b: StagedBlob): void
  /** Whether a blob of this digest is staged already. */
  hasBlob(sha256: string): boolean
  /** Records the staged blobs and applies the staged events; rolls everything back when `dryRun`. */
  apply(options: { hooks?: readonly FormatReplicationHooks[] | undefined; dryRun: boolean }): StagedImportOutcome
  /** Empties the staging tables. */
  clear(): void
}

const STAGE_SQL = `
  CREATE TEMP TABLE IF NOT EXISTS bundle_events (
    origin TEXT NOT NULL, seq INTEGER NOT NULL, hlc_ms INTEGER NOT NULL, hlc_counter INTEGER NOT NULL,
    repo TEXT NOT NULL, kind TEXT NOT NULL, path TEXT, sha256 TEXT, payload TEXT NOT NULL, signature BLOB NOT NULL, chain BLOB NOT NULL,
    PRIMARY KEY (origin, seq)) WITHOUT ROWID;
  CREATE TEMP TABLE IF NOT EXISTS bundle_blobs (
    sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, sha1 TEXT NOT NULL, md5 TEXT NOT NULL, sha512 TEXT NOT NULL,
    chunk_manifest BLOB NOT NULL, stored INTEGER NOT NULL) WITHOUT ROWID;
  DELETE FROM temp.bundle_events;
  DELETE FROM temp.bundle_blobs;`

interface StagedRow {
  origin: string
  seq: number
  hlc_ms: number
  hlc_counter: number
  repo: string
  kind: SignedEvent['kind']
  path: string | null
  sha256: string | null
  payload: string
  signature: Buffer
  chain: Buffer
}

const toSigned = (r: StagedRow): SignedEvent => ({
  origin: r.origin,
  seq: r.seq,
  hlc: { ms: r.hlc_ms, counter: r.hlc_counter },
  repo: r.repo,
  kind: r.kind,
  path: r.path,
  sha256: r.sha256,
  payload: r.payload,
  signature: new Uint8Array(r.signature),
  chain: new Uint8Array(r.chain),
})

/** Thrown inside the applying transaction of a dry run, so that SQLite rolls everything back. */
class DryRunRollback extends Error {
  constructor(readonly outcome: StagedImportOutcome) {
    super('dry run')
  }
}

/** Starts a staged import (the staging tables are emptied first). */
export function createStagedImport(db: Db, log: ReplicationLog): StagedImport {
  db.exec(STAGE_SQL)
  const stageEvent = db.prepare(`INSERT INTO temp.bundle_events (origin, seq, hlc_ms, hlc_counter, repo, kind, path, sha256, payload, signature, chain)
    VALUES (@origin, @seq, @hlc_ms, @hlc_counter, @repo, @kind, @path, @sha256, @payload, @signature, @chain)`)
  const stageBlob = db.prepare(`INSERT INTO temp.bundle_blobs (sha256, size, sha1, md5, sha512, chunk_manifest, stored)
    VALUES (@sha256, @size, @sha1, @md5, @sha512, @chunk_manifest, @stored)`)
  const stagedBlob = db.prepare('SELECT 1 FROM temp.bundle_blobs WHERE sha256 = ?')
  return {
    event(e) {
      stageEvent.run({
        origin: e.origin,
        seq: e.seq,
        hlc_ms: e.hlc.ms,
        hlc_counter: e.hlc.counter,
        repo: e.repo,
        kind: e.kind,
        path: e.path,
        sha256: e.sha256,
        payload: e.payload,
        signature: Buffer.from(e.signature as Uint8Array),
        chain: Buffer.from(e.chain),
      })
    },
    blob(b) {
      const { chunkManifest, stored, ...rest } = b
      stageBlob.run({ ...rest, chunk_manifest: chunkManifest, stored: stored ? 1 : 0 })
    },
    hasBlob: (sha256) => stagedBlob.get(sha256) !== undefined,
    apply(options) {
      try {
        return applyStaged(db, log, options.hooks, options.dryRun)
      } catch (err) {
        if (err instanceof DryRunRollback) return err.outcome
        throw err
      }
    },
    clear: () => db.exec('DELETE FROM temp.bundle_events; DELETE FROM temp.bundle_blobs;'),
  }
}

function applyStaged(db: Db, log: ReplicationLog, hooks: readonly FormatReplicationHooks[] | undefined, dryRun: boolean): StagedImportOutcome {
  const applier = createEventApplier(db, log, { hooks })
  const repoPage = db.prepare(`SELECT * FROM temp.bundle_events WHERE kind LIKE 'repo.%' ORDER BY hlc_ms, hlc_counter, origin, seq`)
  const artifactPage = db.prepare(`SELECT * FROM temp.bundle_events WHERE kind NOT LIKE 'repo.%'
    AND (origin > @origin OR (origin = @origin AND seq > @seq)) ORDER BY origin, seq LIMIT @limit`)
  const paths = db.prepare('SELECT DISTINCT repo, path FROM temp.bundle_events WHERE path IS NOT NULL').all() as { repo: string; path: string }[]
  const repos = (db.prepare('SELECT DISTINCT repo FROM temp.bundle_events').all() as { repo: string }[]).map((r) => r.repo)
  const artifactSha = db.prepare('SELECT sha256 FROM artifacts WHERE repo = ? AND path = ?')
  const repoExists = db.prepare('SELECT 1 FROM repositories WHERE key = ?')
  const artifactCount = db.prepare('SELECT COUNT(*) AS n FROM artifacts WHERE repo = ?')
  const shaOf = (p: { repo: string; path: string }) => (artifactSha.get(p.repo, p.path) as { sha256: string } | undefined)?.sha256
  const pathKey = (p: { repo: string; path: string }) => `${p.repo}/${p.path}`
  const list = (into: string[], value: string) => {
    if (into.length < MAX_LISTED_CHANGES) into.push(value)
  }
  const out: StagedImportOutcome = {
    newEvents: 0,
    repositories: { created: [], deleted: [] },
    artifacts: { added: 0, changed: 0, removed: 0, list: { added: [], changed: [], removed: [] } },
    state: { before: '', after: '' },
  }

  db.transaction(() => {
    out.state.before = replicationState(db, log).hash
    const beforeSha = new Map(paths.map((p) => [pathKey(p), shaOf(p)]))
    const beforeRepos = new Map(repos.map((r) => [r, repoExists.get(r) ? (artifactCount.get(r) as { n: number }).n : -1]))

    db.prepare(`INSERT OR IGNORE INTO blobs (sha256, size, sha1, md5, sha512, chunk_size, chunk_manifest, created_at, touched_at)
      SELECT sha256, size, sha1, md5, sha512, ${CHUNK_SIZE}, chunk_manifest, @now, @now FROM temp.bundle_blobs`).run({ now: Date.now() })
    // Repository events first: an artifact event of a repository another origin created is
    // applied only once that repository exists here.
    let added = applier.apply((repoPage.all() as StagedRow[]).map(toSigned))
    let cursor = { origin: '', seq: 0 }
    for (;;) {
      const page = artifactPage.all({ ...cursor, limit: APPLY_BATCH_EVENTS }) as StagedRow[]
      if (page.length === 0) break
      added += applier.apply(page.map(toSigned))
      const end = page[page.length - 1] as StagedRow
      cursor = { origin: end.origin, seq: end.seq }
    }
    // The bytes of these blobs are here now: they are no longer waiting for the swarm.
    db.prepare('DELETE FROM remote_blobs WHERE sha256 IN (SELECT sha256 FROM temp.bundle_blobs)').run()
    out.newEvents = added

    for (const [repo, count] of beforeRepos) {
      const now = repoExists.get(repo) !== undefined
      if (count < 0 && now) out.repositories.created.push(repo)
      if (count >= 0 && !now) {
        out.repositories.deleted.push(repo)
        out.artifacts.removed += count
      }
    }
    for (const p of paths) {
      const key = pathKey(p)
      const before = beforeSha.get(key)
      const after = shaOf(p)
      if (before === after) continue
      if (!before) {
        out.artifacts.added++
        list(out.artifacts.list.added, key)
      } else if (!after) {
        if (!out.repositories.deleted.includes(p.repo)) out.artifacts.removed++
        list(out.artifacts.list.removed, key)
      } else {
        out.artifacts.changed++
        list(out.artifacts.list.changed, key)
      }
    }
    out.state.after = replicationState(db, log).hash
    if (dryRun) throw new DryRunRollback(out)
  })()
  return out
}
