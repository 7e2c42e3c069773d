import type { Db } from './db.ts'
import type { ReplicationLog } from './replication-log.ts'
import type { BlobIndex } from './blob-index.ts'
import type { BlobDigests } from './digests.ts'
import { ArtifactNotFoundError, ImmutableArtifactError } from './errors.ts'
import { validateArtifactPath } from './paths.ts'

export interface Artifact {
  repo: string
  path: string
  sha256: string
  size: number
  contentType: string | null
  properties: Record<string, unknown>
  createdBy: string | null
  createdAt: number
  updatedAt: number
}

export interface PutArtifactInput {
  repo: string
  path: string
  blob: BlobDigests
  contentType?: string | null
  properties?: Record<string, unknown>
  createdBy?: string | null
  /** When false, an existing path with different bytes is ImmutableArtifactError. Same bytes always succeed. */
  overwrite: boolean
}

export interface PutArtifactResult {
  artifact: Artifact
  /** The path did not exist before. */
  created: boolean
  /** The artifact it replaced (different bytes), if any. */
  replaced: Artifact | undefined
}

export interface DirectoryListing {
  files: Artifact[]
  /** Names of immediate sub-directories. */
  dirs: string[]
}

/** (repository, path) → blob. Every write appends its replication event in the same transaction. */
export interface ArtifactStore {
  get(repo: string, path: string): Artifact | undefined
  require(repo: string, path: string): Artifact
  put(input: PutArtifactInput): PutArtifactResult
  /** Deletes one artifact; false when it did not exist. */
  delete(repo: string, path: string, by?: string | null): boolean
  /** Deletes every artifact under `dir/`; returns how many. */
  deleteTree(repo: string, dir: string, by?: string | null): number
  /** Immediate children of `dir` ('' for the root). */
  list(repo: string, dir: string): DirectoryListing
  /** Whether anything is stored under `dir/`. */
  hasTree(repo: string, dir: string): boolean
  count(repo?: string): number
  /** Runs `fn` in one SQLite transaction, for formats that update their own index beside an artifact. */
  transaction<T>(fn: () => T): T
}

/** A row of the artifacts table, as SELECT * returns it. */
export interface ArtifactRow {
  repo: string
  path: string
  dir: string
  sha256: string
  size: number
  content_type: string | null
  properties: string
  created_by: string | null
  created_at: number
  updated_at: number
}

export function artifactFromRow(r: ArtifactRow): Artifact {
  return {
    repo: r.repo,
    path: r.path,
    sha256: r.sha256,
    size: r.size,
    contentType: r.content_type,
    properties: JSON.parse(r.properties) as Record<string, unknown>,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/')
  return i < 0 ? '' : path.slice(0, i)
}

/**
 * The smallest string above every path under `prefix` (which ends in '/'): the same prefix with
 * its '/' raised to '0'. SQLite compares TEXT as UTF-8 bytes, so a sentinel like U+FFFF is no
 * bound: names beyond the BMP (emoji, UTF-8 F0…) sort above it. Undefined for the root.
 */
function endOf(prefix: string): string | undefined {
  return prefix === '' ? undefined : `${prefix.slice(0, -1)}0`
}

/** The immediate successor of `path` in byte order (stored paths never contain NUL). */
const justAfter = (path: string): string => `${path}\u0000`

export function createArtifactStore(db: Db, blobs: BlobIndex, log: ReplicationLog): ArtifactStore {
  const get = db.prepare('SELECT * FROM artifacts WHERE repo = ? AND path = ?')
  const upsert = db.prepare(`INSERT INTO artifacts (repo, path, dir, sha256, size, content_type, properties, created_by, created_at, updated_at)
    VALUES (@repo, @path, @dir, @sha256, @size, @content_type, @properties, @created_by, @now, @now)
    ON CONFLICT (repo, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
      content_type = excluded.content_type, properties = excluded.properties, created_by = excluded.created_by,
      updated_at = excluded.updated_at`)
  const del = db.prepare('DELETE FROM artifacts WHERE repo = ? AND path = ?')
  const filesIn = db.prepare('SELECT * FROM artifacts WHERE repo = ? AND dir = ? ORDER BY path')
  const firstFromBounded = db.prepare('SELECT path FROM artifacts WHERE repo = ? AND path >= ? AND path < ? ORDER BY path LIMIT 1')
  const firstFromOpen = db.prepare('SELECT path FROM artifacts WHERE repo = ? AND path >= ? ORDER BY path LIMIT 1')
  /** The first path >= `from` and below `end` (no bound when undefined). */
  const firstFrom = (repo: string, from: string, end: string | undefined) =>
    (end === undefined ? firstFromOpen.get(repo, from) : firstFromBounded.get(repo, from, end)) as { path: string } | undefined
  const treePathsBounded = db.prepare('SELECT path, sha256 FROM artifacts WHERE repo = ? AND path >= ? AND path < ? ORDER BY path')
  const treePathsAll = db.prepare('SELECT path, sha256 FROM artifacts WHERE repo = ? ORDER BY path')
  const countAll = db.prepare('SELECT COUNT(*) AS n FROM artifacts')
  const countRepo = db.prepare('SELECT COUNT(*) AS n FROM artifacts WHERE repo = ?')

  const store: ArtifactStore = {
    get: (repo, path) => {
      const r = get.get(repo, path) as ArtifactRow | undefined
      return r ? artifactFromRow(r) : undefined
    },
    require: (repo, path) => {
      const a = store.get(repo, path)
      if (!a) throw new ArtifactNotFoundError(`'${path}' not found in repository '${repo}'`)
      return a
    },
    put: db.transaction((input: PutArtifactInput): PutArtifactResult => {
      validateArtifactPath(input.path)
      const existing = store.get(input.repo, input.path)
      if (existing && existing.sha256 !== input.blob.sha256 && !input.overwrite) {
        throw new ImmutableArtifactError(`'${input.path}' already exists in repository '${input.repo}' with different content`, {
          path: input.path,
          existing: existing.sha256,
        })
      }
      blobs.record(input.blob)
      const properties = input.properties ?? existing?.properties ?? {}
      const contentType = input.contentType ?? existing?.contentType ?? null
      const unchanged = existing?.sha256 === input.blob.sha256
      // Same bytes with new properties (a cargo yank, say) is still a change peers must learn.
      const sameProperties = unchanged && JSON.stringify(existing.properties) === JSON.stringify(properties)
      upsert.run({
        repo: input.repo,
        path: input.path,
        dir: dirOf(input.path),
        sha256: input.blob.sha256,
        size: input.blob.size,
        content_type: contentType,
        properties: JSON.stringify(properties),
        created_by: input.createdBy ?? null,
        now: Date.now(),
      })
      if (!sameProperties) {
        log.append({
          repo: input.repo,
          kind: 'artifact.put',
          path: input.path,
          sha256: input.blob.sha256,
          // The blob's digests and chunk manifest travel with the event, so a peer can record the
          // blob (and later fetch and verify its chunks) before it holds any byte of it.
          payload: {
            size: input.blob.size,
            contentType,
            properties,
            blob: { sha1: input.blob.sha1, md5: input.blob.md5, sha512: input.blob.sha512, chunkManifest: Buffer.from(input.blob.chunkManifest).toString('hex') },
          },
        })
      }
      return {
        artifact: store.require(input.repo, input.path),
        created: !existing,
        replaced: existing && !unchanged ? existing : undefined,
      }
    }),
    delete: db.transaction((repo: string, path: string) => {
      const existing = store.get(repo, path)
      if (!existing) return false
      del.run(repo, path)
      log.append({ repo, kind: 'artifact.delete', path, sha256: existing.sha256 })
      return true
    }),
    deleteTree: db.transaction((repo: string, dir: string) => {
      const prefix = dir === '' ? '' : `${dir}/`
      const end = endOf(prefix)
      const rows = (end === undefined ? treePathsAll.all(repo) : treePathsBounded.all(repo, prefix, end)) as { path: string; sha256: string }[]
      for (const r of rows) {
        del.run(repo, r.path)
        log.append({ repo, kind: 'artifact.delete', path: r.path, sha256: r.sha256 })
      }
      return rows.length
    }),
    list: (repo, dir) => {
      const files = (filesIn.all(repo, dir) as ArtifactRow[]).map(artifactFromRow)
      // Sub-directories by skip-scan: find the next path below dir/, take its first segment,
      // then jump past everything under that segment. O(children · log n), not O(subtree).
      const prefix = dir === '' ? '' : `${dir}/`
      const dirs: string[] = []
      const end = endOf(prefix)
      let cursor = prefix
      for (;;) {
        const next = firstFrom(repo, cursor, end)
        if (!next) break
        const rest = next.path.slice(prefix.length)
        const slash = rest.indexOf('/')
        if (slash < 0) {
          cursor = justAfter(next.path)
          continue
        }
        const name = rest.slice(0, slash)
        dirs.push(name)
        cursor = endOf(`${prefix}${name}/`) as string
      }
      return { files, dirs }
    },
    hasTree: (repo, dir) => {
      const prefix = dir === '' ? '' : `${dir}/`
      return firstFrom(repo, prefix, endOf(prefix)) !== undefined
    },
    count: (repo) => (repo ? (countRepo.get(repo) as { n: number }).n : (countAll.get() as { n: number }).n),
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
  }
  return store
}
