import type { Db } from './db.ts'
import { HybridClock, type Hlc } from './hlc.ts'

export type EventKind = 'repo.create' | 'repo.update' | 'repo.delete' | 'artifact.put' | 'artifact.delete'

export interface ReplicationEvent {
  origin: string
  seq: number
  hlc: Hlc
  repo: string
  kind: EventKind
  path: string | null
  sha256: string | null
  payload: Record<string, unknown>
}

export interface AppendInput {
  repo: string
  kind: EventKind
  path?: string | null
  sha256?: string | null
  payload?: Record<string, unknown>
}

/**
 * The replication log: every change to repository content, stamped with this node's ID, a
 * per-origin sequence number and a hybrid logical clock. `append` must be called inside the
 * transaction that makes the change, so the change and its event commit together.
 */
export interface ReplicationLog {
  readonly origin: string
  append(input: AppendInput): ReplicationEvent
  /** Highest sequence number seen per origin. */
  versionVector(): Record<string, number>
  /** Events of `origin` with seq > after, in order, at most `limit`. */
  since(origin: string, after: number, limit: number): ReplicationEvent[]
  count(): number
}

interface EventRow {
  origin: string
  seq: number
  hlc_ms: number
  hlc_counter: number
  repo: string
  kind: EventKind
  path: string | null
  sha256: string | null
  payload: string
}

function fromRow(r: EventRow): ReplicationEvent {
  return {
    origin: r.origin,
    seq: r.seq,
    hlc: { ms: r.hlc_ms, counter: r.hlc_counter },
    repo: r.repo,
    kind: r.kind,
    path: r.path,
    sha256: r.sha256,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
  }
}

export function createReplicationLog(db: Db, origin: string): ReplicationLog {
  return new SqliteReplicationLog(db, origin)
}

class SqliteReplicationLog implements ReplicationLog {
  private readonly clock: HybridClock
  private readonly insert
  private readonly maxSeq
  constructor(
    private readonly db: Db,
    readonly origin: string,
  ) {
    const last = db
      .prepare('SELECT hlc_ms AS ms, hlc_counter AS counter FROM events ORDER BY hlc_ms DESC, hlc_counter DESC LIMIT 1')
      .get() as Hlc | undefined
    this.clock = new HybridClock(Date.now, last ?? { ms: 0, counter: 0 })
    this.insert = db.prepare(`INSERT INTO events (origin, seq, hlc_ms, hlc_counter, repo, kind, path, sha256, payload, received_at)
      VALUES (@origin, @seq, @hlc_ms, @hlc_counter, @repo, @kind, @path, @sha256, @payload, @received_at)`)
    this.maxSeq = db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE origin = ?')
  }

  append(input: AppendInput): ReplicationEvent {
    if (!this.db.inTransaction) throw new Error('ReplicationLog.append must run inside the change transaction')
    const seq = (this.maxSeq.get(this.origin) as { seq: number }).seq + 1
    const hlc = this.clock.tick()
    const event: ReplicationEvent = {
      origin: this.origin,
      seq,
      hlc,
      repo: input.repo,
      kind: input.kind,
      path: input.path ?? null,
      sha256: input.sha256 ?? null,
      payload: input.payload ?? {},
    }
    this.insert.run({
      origin: event.origin,
      seq,
      hlc_ms: hlc.ms,
      hlc_counter: hlc.counter,
      repo: event.repo,
      kind: event.kind,
      path: event.path,
      sha256: event.sha256,
      payload: JSON.stringify(event.payload),
      received_at: Date.now(),
    })
    return event
  }

  versionVector(): Record<string, number> {
    const rows = this.db.prepare('SELECT origin, MAX(seq) AS seq FROM events GROUP BY origin').all() as {
      origin: string
      seq: number
    }[]
    return Object.fromEntries(rows.map((r) => [r.origin, r.seq]))
  }

  since(origin: string, after: number, limit: number): ReplicationEvent[] {
    return (
      this.db
        .prepare('SELECT * FROM events WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?')
        .all(origin, after, limit) as EventRow[]
    ).map(fromRow)
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n
  }
}
