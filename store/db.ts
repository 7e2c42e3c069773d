import Database from 'better-sqlite3'
import { chmodSync, closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MigrationError } from './errors.ts'
import { SQLITE_BUSY_TIMEOUT, SQLITE_WAL_AUTOCHECKPOINT_PAGES } from './constants.ts'

export type Db = Database.Database

/**
 * The package root: the nearest folder above this file that holds package.json. This file runs
 * from store/ (the sources) or from dist/store/ (the build), so a fixed '..' would not do.
 */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) return join(here, '..')
  }
}

/** The migrations/ folder of the package (beside package.json, not compiled). */
export const MIGRATIONS_DIR = join(packageRoot(), 'migrations')

export interface OpenDbOptions {
  /** @default MIGRATIONS_DIR */
  migrationsDir?: string
  readonly?: boolean
}

/**
 * The database and its WAL and shared-memory files are readable by this user only. SQLite creates
 * a new database 0644 and gives -wal and -shm the database file's mode, so the file is made 0600
 * before SQLite first opens it, and files of older nodes are tightened.
 */
function ownerOnly(file: string): void {
  if (file === ':memory:' || file === '') return
  closeSync(openSync(file, 'a', 0o600))
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(f, 0o600)
    } catch {
      // -wal/-shm absent, or not ours to change
    }
  }
}

/** Opens (or creates) the metadata database in WAL mode and applies pending migrations. */
export function openDb(file: string, options: OpenDbOptions = {}): Db {
  if (!options.readonly) ownerOnly(file)
  const db = new Database(file, { readonly: options.readonly ?? false })
  try {
    db.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT}`)
    if (!options.readonly) {
      db.pragma('journal_mode = WAL')
      // NORMAL is durable across process crashes in WAL mode; FULL also survives power loss
      // at the cost of an fsync per commit. A registry's commit is an upload: pay for FULL.
      db.pragma('synchronous = FULL')
      db.pragma(`wal_autocheckpoint = ${SQLITE_WAL_AUTOCHECKPOINT_PAGES}`)
    }
    db.pragma('foreign_keys = ON')
    if (!options.readonly) migrate(db, options.migrationsDir ?? MIGRATIONS_DIR)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

export interface Migration {
  version: number
  name: string
  sql: string
}

export function loadMigrations(dir: string): Migration[] {
  const files = readdirSync(dir).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort()
  const seen = new Set<number>()
  return files.map((f) => {
    const version = Number(f.slice(0, 3))
    if (seen.has(version)) throw new MigrationError(`two migrations share version ${version} in ${dir}`)
    seen.add(version)
    return { version, name: f, sql: readFileSync(join(dir, f), 'utf8') }
  })
}

/**
 * Applies, in order, each migration not yet recorded in schema_migrations, each inside its own
 * transaction: a failing one leaves the database exactly as it was and stops start-up.
 */
export function migrate(db: Db, dir: string): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
  )
  let count = 0
  for (const m of loadMigrations(dir)) {
    if (applied.has(m.version)) continue
    const apply = db.transaction(() => {
      db.exec(m.sql)
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        Date.now(),
      )
    })
    try {
      apply()
    } catch (err) {
      throw new MigrationError(`migration ${m.name} failed and was rolled back: ${(err as Error).message}`, {
        migration: m.name,
      })
    }
    count++
  }
  return count
}
