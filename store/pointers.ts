import type { Db } from './db.ts'
import type { Hlc } from './hlc.ts'
import type { ReplicationLog } from './replication-log.ts'

/** A pointer: its value and the event that set it (or removed it: then value is undefined). */
export interface Pointer {
  repo: string
  name: string
  /** The JSON value; undefined for a removed pointer (a tombstone, listed only on request). */
  value: unknown
  hlc: Hlc
  origin: string
}

/**
 * Mutable pointers of a repository (migrations/084_pointers.sql): small named values, such as
 * an npm dist-tag (`dist-tag/<package>/<tag>` → "1.2.3"), that the last writer sets by hybrid
 * logical clock on every node. Writes must run inside the caller's transaction (the one that
 * changes the format's own tables), and each appends its replication event there.
 */
export interface PointerStore {
  /** The live pointer, undefined when never set or removed. */
  get(repo: string, name: string): Pointer | undefined
  /** Live pointers whose name starts with `prefix`, by name; with `removed`, tombstones too. */
  list(repo: string, prefix: string, options?: { removed?: boolean }): Pointer[]
  /** Sets a pointer (a 'pointer.set' event); false when it already held an equal value. */
  set(repo: string, name: string, value: unknown, by?: string | null): boolean
  /** Removes a pointer (a 'pointer.delete' event, a tombstone that wins over older sets); false when it was not live. */
  delete(repo: string, name: string, by?: string | null): boolean
}

/** Names are chosen by formats; they share the events' `path` column, so keep them path-sized. */
export const MAX_POINTER_NAME_LENGTH = 1024
/** JSON text of one value: pointers are small (a version, a digest, a message). */
export const MAX_POINTER_VALUE_BYTES = 16 * 1024

interface PointerRow {
  repo: string
  name: string
  value: string | null
  hlc_ms: number
  hlc_counter: number
  origin: string
}

const fromRow = (r: PointerRow): Pointer => ({
  repo: r.repo,
  name: r.name,
  value: r.value === null ? undefined : (JSON.parse(r.value) as unknown),
  hlc: { ms: r.hlc_ms, counter: r.hlc_counter },
  origin: r.origin,
})

/** The smallest string above every name starting with `prefix` (byte order), undefined for ''. */
function endOf(prefix: string): string | undefined {
  if (prefix === '') return undefined
  const last = prefix.charCodeAt(prefix.length - 1)
  return `${prefix.slice(0, -1)}${String.fromCharCode(last + 1)}`
}

function checkName(name: string): void {
  if (name.length === 0 || name.length > MAX_POINTER_NAME_LENGTH || name.includes('\u0000')) {
    throw new Error(`invalid pointer name '${name.slice(0, 64)}'`)
  }
}

export function createPointerStore(db: Db, log: ReplicationLog): PointerStore {
  const get = db.prepare('SELECT * FROM pointers WHERE repo = ? AND name = ? AND value IS NOT NULL')
  const listAll = db.prepare('SELECT * FROM pointers WHERE repo = ? ORDER BY name')
  const listBounded = db.prepare('SELECT * FROM pointers WHERE repo = ? AND name >= ? AND name < ? ORDER BY name')
  const upsert = db.prepare(`INSERT INTO pointers (repo, name, value, hlc_ms, hlc_counter, origin)
    VALUES (@repo, @name, @value, @hlc_ms, @hlc_counter, @origin)
    ON CONFLICT (repo, name) DO UPDATE SET value = excluded.value, hlc_ms = excluded.hlc_ms,
      hlc_counter = excluded.hlc_counter, origin = excluded.origin`)

  const write = (repo: string, name: string, value: string | null, by: string | null | undefined) => {
    if (!db.inTransaction) throw new Error('PointerStore writes must run inside the change transaction')
    const event = log.append({
      repo,
      kind: value === null ? 'pointer.delete' : 'pointer.set',
      path: name,
      payload: value === null ? (by ? { by } : {}) : { value: JSON.parse(value) as unknown, ...(by ? { by } : {}) },
    })
    upsert.run({ repo, name, value, hlc_ms: event.hlc.ms, hlc_counter: event.hlc.counter, origin: event.origin })
  }

  return {
    get: (repo, name) => {
      const r = get.get(repo, name) as PointerRow | undefined
      return r ? fromRow(r) : undefined
    },
    list: (repo, prefix, options = {}) => {
      const end = endOf(prefix)
      const rows = (end === undefined ? listAll.all(repo) : listBounded.all(repo, prefix, end)) as PointerRow[]
      // The bound is by UTF-16 code unit; SQLite compares UTF-8 bytes. Both agree for the
      // ASCII separators formats end their prefixes with, and startsWith settles the rest.
      return rows.filter((r) => r.name.startsWith(prefix) && (r.value !== null || options.removed === true)).map(fromRow)
    },
    set: (repo, name, value, by) => {
      checkName(name)
      if (value === undefined) throw new Error(`pointer '${name}': a value is required (delete removes)`)
      const text = JSON.stringify(value)
      if (Buffer.byteLength(text) > MAX_POINTER_VALUE_BYTES) throw new Error(`pointer '${name}': value exceeds ${MAX_POINTER_VALUE_BYTES} bytes`)
      const current = get.get(repo, name) as PointerRow | undefined
      if (current?.value === text) return false
      write(repo, name, text, by)
      return true
    },
    delete: (repo, name, by) => {
      checkName(name)
      const live = get.get(repo, name) !== undefined
      // Recorded even when nothing is live here: another node may hold a set we have not seen yet.
      write(repo, name, null, by)
      return live
    },
  }
}
