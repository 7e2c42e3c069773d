import { hash } from 'node:crypto'
import type { Db } from './db.ts'
import { HybridClock, type Hlc } from './hlc.ts'

export type EventKind =
  | 'repo.create'
  | 'repo.update'
  | 'repo.delete'
  | 'artifact.put'
  | 'artifact.delete'
  /** A mutable pointer set (store/pointers.ts): path is the pointer's name, payload {value}. */
  | 'pointer.set'
  /** A mutable pointer removed: a tombstone that wins over older sets. */
  | 'pointer.delete'

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

/** A stored event as it travels between nodes: the payload as its exact stored JSON text, and the origin's signature. */
export interface SignedEvent extends Omit<ReplicationEvent, 'payload'> {
  payload: string
  /** Ed25519 signature by the origin over signingBytes(); null for events appended without a signer. */
  signature: Uint8Array | null
  /**
   * chainOf(signingBytes(event, previous event's chain)): computed by whoever verified the event,
   * stored beside it, never sent (every receiver recomputes it).
   */
  chain?: Uint8Array
}

/** Signs bytes with the node's key (synchronously: it runs inside the change's SQLite transaction). */
export type EventSigner = (bytes: Uint8Array) => Uint8Array

export interface ReplicationLogOptions {
  /** Signs each appended event; without it events carry no signature (peers will refuse them). */
  sign?: EventSigner
}

/** The chain value before an origin's first event. */
export const GENESIS_CHAIN: Uint8Array = new Uint8Array(32)

/**
 * The bytes an event's signature covers: every field that gives the event its meaning, in a fixed
 * order, with the payload as its stored JSON text (never re-serialised, so relays cannot disturb it),
 * and the chain value of the origin's previous event. So each origin's events form a hash chain:
 * a valid signature on event n vouches for events 1…n, and a receiver verifies one signature per
 * batch instead of one per event (Ed25519 verification is ~100 µs; a sha256 of the bytes ~2 µs).
 */
export function signingBytes(e: Omit<SignedEvent, 'signature' | 'chain'>, prevChain: Uint8Array): Uint8Array {
  return utf8.encode(signingText(e, prevChain))
}
const utf8 = new TextEncoder()

/** signingBytes as the JSON text they encode (UTF-8): what a verifier hashes along the chain without encoding it. */
export function signingText(e: Omit<SignedEvent, 'signature' | 'chain'>, prevChain: Uint8Array): string {
  return JSON.stringify([
    'ak-event-v2',
    e.origin,
    e.seq,
    e.hlc.ms,
    e.hlc.counter,
    e.repo,
    e.kind,
    e.path,
    e.sha256,
    e.payload,
    asBuffer(prevChain).toString('hex'),
  ])
}

/** An event's chain value: the sha256 of its signing bytes (which include the previous chain value). */
export function chainOf(signing: Uint8Array): Uint8Array {
  // A Buffer of its own (never a slice of the shared pool): no copy needed.
  return hash('sha256', signing, 'buffer')
}

/** chainOf(utf8(text)), hashing the text directly. */
export function chainOfText(text: string): Uint8Array {
  return hash('sha256', text, 'buffer')
}

export interface AppendInput {
  repo: string
  kind: EventKind
  path?: string | null
  sha256?: string | null
  payload?: Record<string, unknown>
  /**
   * Append under the node's local-only origin (never replicated). Undefined: decided by the
   * repository's settings.replication.mode ('local-only'), looked up in the same transaction.
   */
  localOnly?: boolean
}

/**
 * Events of repositories whose replication mode is 'local-only' are appended under the origin
 * `local:<peerId>`: their own sequence space, so the replicated origin's sequence stays contiguous
 * (peers require seq = held + 1). Such origins are never served, never in the version vector.
 */
export const LOCAL_ORIGIN_PREFIX = 'local:'

/** Whether an event origin is a node's local-only origin. */
export const isLocalOrigin = (origin: string): boolean => origin.startsWith(LOCAL_ORIGIN_PREFIX)

/**
 * The replication log: every change to repository content, stamped with this node's ID, a
 * per-origin sequence number and a hybrid logical clock. `append` must be called inside the
 * transaction that makes the change, so the change and its event commit together.
 */
export interface ReplicationLog {
  readonly origin: string
  append(input: AppendInput): ReplicationEvent
  /** Highest sequence number seen per replicated origin (local-only origins excluded). */
  versionVector(): Record<string, number>
  /** Events of `origin` with seq > after, in order, at most `limit`. */
  since(origin: string, after: number, limit: number): ReplicationEvent[]
  /** Like since, with the payload as stored text and the signature: what replication sends. */
  sinceSigned(origin: string, after: number, limit: number): SignedEvent[]
  /**
   * Stores an event received from another origin, as it came (not re-stamped), and advances the
   * local clock past its HLC. Call inside the transaction that applies it. False when already held.
   */
  insertRemote(event: SignedEvent): boolean
  /** The chain value of `origin`'s event `seq` (GENESIS_CHAIN for 0), undefined when not held or stored without one. */
  chainAt(origin: string, seq: number): Uint8Array | undefined
  /** The last held event of `origin`: its sequence number (0 for none) and chain value (GENESIS_CHAIN for none). */
  head(origin: string): { seq: number; chain: Uint8Array }
  /** When `origin`'s last held event was stamped (its HLC ms) and received here; undefined when none is held. */
  latest(origin: string): { hlcMs: number; receivedAt: number } | undefined
  /** Repositories that events of `origin` after `after` created or reconfigured. */
  repositoriesChanged(origin: string, after: number): string[]
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
  signature: Buffer | null
  chain: Buffer | null
}

/** A Buffer over the same bytes (no copy): what better-sqlite3 binds as a BLOB. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
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

export function createReplicationLog(db: Db, origin: string, options: ReplicationLogOptions = {}): ReplicationLog {
  return new SqliteReplicationLog(db, origin, options.sign)
}

class SqliteReplicationLog implements ReplicationLog {
  private readonly clock: HybridClock
  private readonly insert
  private readonly insertReceived
  private readonly headRow
  private readonly chainAt_
  private readonly repoMode
  private readonly page
  private readonly heads
  private readonly total
  private readonly latestRow
  private readonly changedRepos
  constructor(
    private readonly db: Db,
    readonly origin: string,
    private readonly sign?: EventSigner,
  ) {
    const last = db
      .prepare('SELECT hlc_ms AS ms, hlc_counter AS counter FROM events ORDER BY hlc_ms DESC, hlc_counter DESC LIMIT 1')
      .get() as Hlc | undefined
    this.clock = new HybridClock(Date.now, last ?? { ms: 0, counter: 0 })
    this.insert = db.prepare(`INSERT OR IGNORE INTO events (origin, seq, hlc_ms, hlc_counter, repo, kind, path, sha256, payload, signature, chain, received_at)
      VALUES (@origin, @seq, @hlc_ms, @hlc_counter, @repo, @kind, @path, @sha256, @payload, @signature, @chain, @received_at)`)
    // The same insert with positional parameters: insertRemote runs once per replicated event.
    this.insertReceived = db.prepare(`INSERT OR IGNORE INTO events (origin, seq, hlc_ms, hlc_counter, repo, kind, path, sha256, payload, signature, chain, received_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    this.headRow = db.prepare('SELECT seq, chain FROM events WHERE origin = ? ORDER BY seq DESC LIMIT 1')
    this.page = db.prepare('SELECT origin, seq, hlc_ms, hlc_counter, repo, kind, path, sha256, payload, signature, chain FROM events WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?')
    // Each origin's last sequence number by index seeks, one origin after the other (a skip scan over the
    // primary key): a GROUP BY would read every event row, payloads included (~50 ms per 100,000 events),
    // and the vector is taken on every pull, served pull and notification.
    this.heads = db.prepare(`WITH RECURSIVE origins(origin) AS (
        SELECT (SELECT origin FROM events ORDER BY origin LIMIT 1)
        UNION ALL
        SELECT (SELECT e.origin FROM events e WHERE e.origin > origins.origin ORDER BY e.origin LIMIT 1) FROM origins WHERE origins.origin IS NOT NULL
      )
      SELECT origin, (SELECT e.seq FROM events e WHERE e.origin = origins.origin ORDER BY e.seq DESC LIMIT 1) AS seq
      FROM origins WHERE origin IS NOT NULL AND origin NOT LIKE '${LOCAL_ORIGIN_PREFIX}%'`)
    this.total = db.prepare('SELECT COUNT(*) AS n FROM events')
    this.latestRow = db.prepare('SELECT hlc_ms, received_at FROM events WHERE origin = ? ORDER BY seq DESC LIMIT 1')
    this.changedRepos = db.prepare(`SELECT DISTINCT repo FROM events WHERE origin = ? AND seq > ? AND kind IN ('repo.create', 'repo.update')`).pluck()
    this.chainAt_ = db.prepare('SELECT chain FROM events WHERE origin = ? AND seq = ?').pluck()
    this.repoMode = db.prepare("SELECT json_extract(settings, '$.replication.mode') AS mode FROM repositories WHERE key = ?").pluck()
  }

  append(input: AppendInput): ReplicationEvent {
    if (!this.db.inTransaction) throw new Error('ReplicationLog.append must run inside the change transaction')
    const localOnly = input.localOnly ?? this.repoMode.get(input.repo) === 'local-only'
    const origin = localOnly ? `${LOCAL_ORIGIN_PREFIX}${this.origin}` : this.origin
    const head = this.head(origin)
    const seq = head.seq + 1
    const hlc = this.clock.tick()
    const event: ReplicationEvent = {
      origin,
      seq,
      hlc,
      repo: input.repo,
      kind: input.kind,
      path: input.path ?? null,
      sha256: input.sha256 ?? null,
      payload: input.payload ?? {},
    }
    const payload = JSON.stringify(event.payload)
    const signing = signingBytes({ ...event, payload }, head.chain)
    const signature = this.sign ? Buffer.from(this.sign(signing)) : null
    this.insert.run({
      origin: event.origin,
      seq,
      hlc_ms: hlc.ms,
      hlc_counter: hlc.counter,
      repo: event.repo,
      kind: event.kind,
      path: event.path,
      sha256: event.sha256,
      payload,
      signature,
      chain: Buffer.from(chainOf(signing)),
      received_at: Date.now(),
    })
    return event
  }

  chainAt(origin: string, seq: number): Uint8Array | undefined {
    if (seq === 0) return GENESIS_CHAIN
    const c = this.chainAt_.get(origin, seq) as Buffer | null | undefined
    return c ? new Uint8Array(c) : undefined
  }

  head(origin: string): { seq: number; chain: Uint8Array } {
    const r = this.headRow.get(origin) as { seq: number; chain: Buffer | null } | undefined
    if (!r) return { seq: 0, chain: GENESIS_CHAIN }
    // Events stored before chains existed have none: the next one chains from genesis.
    return { seq: r.seq, chain: r.chain ? new Uint8Array(r.chain) : GENESIS_CHAIN }
  }

  latest(origin: string): { hlcMs: number; receivedAt: number } | undefined {
    const r = this.latestRow.get(origin) as { hlc_ms: number; received_at: number } | undefined
    return r && { hlcMs: r.hlc_ms, receivedAt: r.received_at }
  }

  repositoriesChanged(origin: string, after: number): string[] {
    return this.changedRepos.all(origin, after) as string[]
  }

  insertRemote(e: SignedEvent): boolean {
    if (!this.db.inTransaction) throw new Error('ReplicationLog.insertRemote must run inside the applying transaction')
    const r = this.insertReceived.run(
      e.origin,
      e.seq,
      e.hlc.ms,
      e.hlc.counter,
      e.repo,
      e.kind,
      e.path,
      e.sha256,
      e.payload,
      e.signature ? asBuffer(e.signature) : null,
      asBuffer(e.chain ?? this.computeChain(e)),
      Date.now(),
    )
    if (r.changes > 0) this.clock.observe(e.hlc)
    return r.changes > 0
  }

  /** The chain value of an event whose verifier did not pass one along, from its stored predecessor. */
  private computeChain(e: SignedEvent): Uint8Array {
    const prev = e.seq === 1 ? GENESIS_CHAIN : (this.chainAt_.get(e.origin, e.seq - 1) as Buffer | null | undefined)
    return chainOf(signingBytes(e, prev ? new Uint8Array(prev) : GENESIS_CHAIN))
  }

  sinceSigned(origin: string, after: number, limit: number): SignedEvent[] {
    return (this.page.all(origin, after, limit) as EventRow[]).map((r) => ({
      origin: r.origin,
      seq: r.seq,
      hlc: { ms: r.hlc_ms, counter: r.hlc_counter },
      repo: r.repo,
      kind: r.kind,
      path: r.path,
      sha256: r.sha256,
      payload: r.payload,
      signature: r.signature ? new Uint8Array(r.signature) : null,
      ...(r.chain ? { chain: new Uint8Array(r.chain) } : {}),
    }))
  }

  versionVector(): Record<string, number> {
    const rows = this.heads.all() as { origin: string; seq: number }[]
    return Object.fromEntries(rows.map((r) => [r.origin, r.seq]))
  }

  since(origin: string, after: number, limit: number): ReplicationEvent[] {
    return (this.page.all(origin, after, limit) as EventRow[]).map(fromRow)
  }

  count(): number {
    return (this.total.get() as { n: number }).n
  }
}
