import type { Db } from './db.ts'
import type { ReplicationLog } from './replication-log.ts'
import { RepositoryExistsError, RepositoryNotFoundError } from './errors.ts'
import { validateRepositoryKey } from './paths.ts'
import { LOCAL_SECRET_SETTINGS, openSettings, sealSettings } from './repository-secrets.ts'
import type { SecretBox } from './secret-box.ts'

export type RepositoryType = 'local' | 'remote' | 'virtual'

/** Settings common to every format; formats may keep their own keys beside these. */
export interface RepositorySettings {
  /** Refuse to overwrite an existing path with different bytes. */
  immutable?: boolean
  /** Largest accepted upload in bytes, below the node-wide maximum. */
  maxUploadBytes?: number
  [key: string]: unknown
}

export interface Repository {
  key: string
  format: string
  type: RepositoryType
  description: string
  public: boolean
  settings: RepositorySettings
  createdAt: number
  updatedAt: number
}

export interface RepositoryInput {
  key: string
  format: string
  type: RepositoryType
  description?: string
  public?: boolean
  settings?: RepositorySettings
}

export interface RepositoryPatch {
  description?: string
  public?: boolean
  settings?: RepositorySettings
}

export interface RepositoryStore {
  get(key: string): Repository | undefined
  /** Like get, but RepositoryNotFoundError when missing. */
  require(key: string): Repository
  list(): Repository[]
  create(input: RepositoryInput): Repository
  update(key: string, patch: RepositoryPatch): Repository
  /** Deletes the repository and its artifacts (their blobs are left to gc). */
  delete(key: string): { artifacts: number }
}

interface RepoRow {
  key: string
  format: string
  type: RepositoryType
  description: string
  public: number
  settings: string
  created_at: number
  updated_at: number
}

function fromRow(r: RepoRow, secrets: SecretBox | undefined): Repository {
  const settings = JSON.parse(r.settings) as RepositorySettings
  return {
    key: r.key,
    format: r.format,
    type: r.type,
    description: r.description,
    public: r.public === 1,
    settings: secrets ? openSettings(secrets, r.key, settings) : settings,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

/** Whether a repository's events stay on this node (settings.replication.mode, see mesh/sync/selection.ts). */
export function isLocalOnly(settings: RepositorySettings): boolean {
  const r = settings.replication
  return r !== null && typeof r === 'object' && (r as { mode?: unknown }).mode === 'local-only'
}

/** The settings as they travel in replication events: without upstream credentials. */
export function replicatedSettings(settings: RepositorySettings): RepositorySettings {
  const upstream = settings.upstream
  if (!upstream || typeof upstream !== 'object') return settings
  const copy: Record<string, unknown> = { ...(upstream as Record<string, unknown>) }
  for (const k of LOCAL_SECRET_SETTINGS) delete copy[k]
  return { ...settings, upstream: copy }
}

function describe(r: Repository): Record<string, unknown> {
  return { format: r.format, type: r.type, description: r.description, public: r.public, settings: replicatedSettings(r.settings) }
}

/**
 * The repositories table. With `secrets`, upstream credentials are sealed when written and opened
 * when read (store/repository-secrets.ts); without (unit tests), they are stored as given.
 */
export function createRepositoryStore(db: Db, log: ReplicationLog, secrets?: SecretBox): RepositoryStore {
  const stored = (key: string, settings: RepositorySettings): string => JSON.stringify(secrets ? sealSettings(secrets, key, settings) : settings)
  const get = db.prepare('SELECT * FROM repositories WHERE key = ?')
  const list = db.prepare('SELECT * FROM repositories ORDER BY key')
  const insert = db.prepare(`INSERT INTO repositories (key, format, type, description, public, settings, created_at, updated_at)
    VALUES (@key, @format, @type, @description, @public, @settings, @now, @now)`)
  const update = db.prepare(`UPDATE repositories SET description = @description, public = @public, settings = @settings,
    updated_at = @now WHERE key = @key`)
  const countArtifacts = db.prepare('SELECT COUNT(*) AS n FROM artifacts WHERE repo = ?')
  const deleteArtifacts = db.prepare('DELETE FROM artifacts WHERE repo = ?')
  const deletePermissions = db.prepare('DELETE FROM permissions WHERE repo = ?')
  const deleteRepo = db.prepare('DELETE FROM repositories WHERE key = ?')
  const artifactsWithBlobs = db.prepare(`SELECT a.path, a.sha256, a.size, a.content_type, a.properties, b.sha1, b.md5, b.sha512, b.chunk_manifest
    FROM artifacts a JOIN blobs b ON b.sha256 = a.sha256 WHERE a.repo = ? AND a.path > ? ORDER BY a.path LIMIT 1000`)

  /**
   * A repository leaving local-only mode: its content so far lives only in local-only events, so
   * every current artifact (and mutable pointer) is announced again as a put under the replicated
   * origin, with the same payload a publish appends (store/artifacts.ts).
   */
  const reannounce = (key: string): void => {
    type Row = { path: string; sha256: string; size: number; content_type: string | null; properties: string; sha1: string; md5: string; sha512: string; chunk_manifest: Buffer }
    const appendPut = (a: Row) =>
      log.append({
        repo: key,
        kind: 'artifact.put',
        path: a.path,
        sha256: a.sha256,
        payload: {
          size: a.size,
          contentType: a.content_type,
          properties: JSON.parse(a.properties) as unknown,
          blob: { sha1: a.sha1, md5: a.md5, sha512: a.sha512, chunkManifest: Buffer.from(a.chunk_manifest).toString('hex') },
        },
      })
    // In pages (appending while a statement iterates is not allowed), never the whole repository at once.
    for (let page = artifactsWithBlobs.all(key, '') as Row[]; page.length > 0; page = artifactsWithBlobs.all(key, (page[page.length - 1] as Row).path) as Row[]) {
      for (const a of page) appendPut(a)
    }
    const hasPointers = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pointers'").get() !== undefined
    if (!hasPointers) return
    const pointers = db.prepare('SELECT name, value FROM pointers WHERE repo = ? AND value IS NOT NULL ORDER BY name').all(key) as { name: string; value: string }[]
    const stamp = db.prepare('UPDATE pointers SET hlc_ms = ?, hlc_counter = ?, origin = ? WHERE repo = ? AND name = ?')
    for (const p of pointers) {
      const e = log.append({ repo: key, kind: 'pointer.set', path: p.name, payload: { value: JSON.parse(p.value) as unknown } })
      stamp.run(e.hlc.ms, e.hlc.counter, e.origin, key, p.name)
    }
  }

  const store: RepositoryStore = {
    get: (key) => {
      const r = get.get(key) as RepoRow | undefined
      return r ? fromRow(r, secrets) : undefined
    },
    require: (key) => {
      const r = store.get(key)
      if (!r) throw new RepositoryNotFoundError(`repository '${key}' does not exist`, { repo: key })
      return r
    },
    list: () => (list.all() as RepoRow[]).map((r) => fromRow(r, secrets)),
    create: db.transaction((input: RepositoryInput) => {
      validateRepositoryKey(input.key)
      if (get.get(input.key)) throw new RepositoryExistsError(`repository '${input.key}' already exists`)
      insert.run({
        key: input.key,
        format: input.format,
        type: input.type,
        description: input.description ?? '',
        public: input.public ? 1 : 0,
        settings: stored(input.key, input.settings ?? {}),
        now: Date.now(),
      })
      const repo = store.require(input.key)
      log.append({ repo: repo.key, kind: 'repo.create', payload: describe(repo) })
      return repo
    }),
    update: db.transaction((key: string, patch: RepositoryPatch) => {
      const current = store.require(key)
      update.run({
        key,
        description: patch.description ?? current.description,
        public: (patch.public ?? current.public) ? 1 : 0,
        settings: stored(key, patch.settings ?? current.settings),
        now: Date.now(),
      })
      const repo = store.require(key)
      log.append({ repo: key, kind: 'repo.update', payload: describe(repo) })
      if (isLocalOnly(current.settings) && !isLocalOnly(repo.settings)) reannounce(key)
      return repo
    }),
    delete: db.transaction((key: string) => {
      const current = store.require(key)
      const artifacts = (countArtifacts.get(key) as { n: number }).n
      deleteArtifacts.run(key)
      deletePermissions.run(key)
      deleteRepo.run(key)
      log.append({ repo: key, kind: 'repo.delete', payload: { artifacts }, localOnly: isLocalOnly(current.settings) })
      return { artifacts }
    }),
  }
  return store
}
