import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadMigrations, migrate, MigrationError, MIGRATIONS_DIR, openDb } from '../../store/index.ts'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ak-migrations-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** Everything in sqlite_master, to compare a schema before and after. */
function schemaOf(db: Database.Database): { type: string; name: string; sql: string | null }[] {
  return db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").all() as {
    type: string
    name: string
    sql: string | null
  }[]
}

describe('migrations', () => {
  it('applies the shipped migrations in order and records each one', () => {
    const db = openDb(join(dir, 'meta.db'))
    const shipped = loadMigrations(MIGRATIONS_DIR)
    const recorded = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all()
    expect(recorded).toEqual(shipped.map((m) => ({ version: m.version, name: m.name })))
    expect(shipped[0]?.name).toBe('001_initial.sql')
    const tables = schemaOf(db).filter((o) => o.type === 'table').map((o) => o.name)
    for (const t of ['blobs', 'repositories', 'artifacts', 'events', 'users', 'groups', 'permissions', 'tokens']) expect(tables).toContain(t)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    db.close()
    // Opening again applies nothing new.
    const again = openDb(join(dir, 'meta.db'))
    expect(migrate(again, MIGRATIONS_DIR)).toBe(0)
    again.close()
  })

  it('applies files in version order, not in the order they were written, and only the pending ones', () => {
    const mig = join(dir, 'mig')
    rmSync(mig, { recursive: true, force: true })
    makeDir(mig)
    writeFileSync(join(mig, '002_b.sql'), "INSERT INTO t (step) VALUES ('two');")
    writeFileSync(join(mig, '001_a.sql'), "CREATE TABLE t (id INTEGER PRIMARY KEY, step TEXT NOT NULL); INSERT INTO t (step) VALUES ('one');")
    writeFileSync(join(mig, 'README.md'), 'not a migration')
    const db = new Database(join(dir, 'order.db'))
    expect(migrate(db, mig)).toBe(2)
    expect(db.prepare('SELECT step FROM t ORDER BY id').all()).toEqual([{ step: 'one' }, { step: 'two' }])
    writeFileSync(join(mig, '003_c.sql'), "INSERT INTO t (step) VALUES ('three');")
    expect(migrate(db, mig)).toBe(1)
    expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }])
    db.close()
  })

  it('rolls a failing migration back completely (no partial table) and throws MigrationError naming it', () => {
    const mig = join(dir, 'mig')
    makeDir(mig)
    writeFileSync(join(mig, '001_good.sql'), 'CREATE TABLE good (id INTEGER PRIMARY KEY);')
    const file = join(dir, 'fail.db')
    const first = new Database(file)
    expect(migrate(first, mig)).toBe(1)
    const before = schemaOf(first)
    const recordedBefore = first.prepare('SELECT version, name FROM schema_migrations').all()
    // 002 creates a table and an index, then fails on its last statement.
    writeFileSync(
      join(mig, '002_broken.sql'),
      'CREATE TABLE partial (id INTEGER PRIMARY KEY);\nCREATE INDEX partial_idx ON partial(id);\nINSERT INTO no_such_table VALUES (1);',
    )
    let err: unknown
    try {
      migrate(first, mig)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(MigrationError)
    expect((err as MigrationError).message).toContain('002_broken.sql')
    expect((err as MigrationError).code).toBe('AK_MIGRATION_FAILED')
    expect(schemaOf(first)).toEqual(before)
    expect(first.prepare('SELECT version, name FROM schema_migrations').all()).toEqual(recordedBefore)
    first.close()
    // Through openDb too: it throws, and a fresh connection sees the old schema.
    expect(() => openDb(file, { migrationsDir: mig })).toThrow(MigrationError)
    const check = new Database(file)
    expect(schemaOf(check)).toEqual(before)
    check.close()
  })

  it('refuses two migrations with the same version', () => {
    const mig = join(dir, 'mig')
    makeDir(mig)
    writeFileSync(join(mig, '001_a.sql'), 'SELECT 1;')
    writeFileSync(join(mig, '001_b.sql'), 'SELECT 1;')
    expect(() => loadMigrations(mig)).toThrow(MigrationError)
  })
})

function makeDir(path: string): void {
  rmSync(path, { recursive: true, force: true })
  mkdirSync(path, { recursive: true })
}
