import semver from 'semver'
import type { Db } from '../../store/index.ts'

/** One published version (a row of npm_versions). */
export interface VersionRow {
  repo: string
  name: string
  version: string
  /** JSON object text of the version manifest, without dist and deprecated. */
  manifest: string
  /** JSON object text of its abbreviated (install-v1) form, without dist and deprecated. */
  abbreviated: string
  deprecated: string | null
  /** The tarball artifact's path. */
  path: string
  sha256: string
  shasum: string
  integrity: string
  size: number
  publishedBy: string | null
  publishedAt: number
}

export interface PackageRow {
  repo: string
  name: string
  rev: number
  createdAt: number
  modifiedAt: number
}

/** The latest version of a package, for search. */
export interface SearchCandidate {
  name: string
  version: string
  manifest: string
  publishedAt: number
  publishedBy: string | null
}

/**
 * The npm index tables (migrations/010_npm_index.sql). Writers must run inside
 * ctx.artifacts.transaction so the rows change together with the tarball artifacts.
 */
export interface NpmIndex {
  getPackage(repo: string, name: string): PackageRow | undefined
  versions(repo: string, name: string): VersionRow[]
  getVersion(repo: string, name: string, version: string): VersionRow | undefined
  /** tag → version. */
  tags(repo: string, name: string): Record<string, string>
  /**
   * Records a new version (creating the package row) and points `tags` at it. The package's
   * created time is its earliest version's publishedAt, so every node that holds the same
   * versions agrees on it.
   */
  addVersion(row: VersionRow, tags: readonly string[]): void
  /** Sets (message) or clears (null) a version's deprecation; false when nothing changed. */
  setDeprecated(repo: string, name: string, version: string, message: string | null): boolean
  setTag(repo: string, name: string, tag: string, version: string): void
  /** False when the tag did not exist. */
  removeTag(repo: string, name: string, tag: string): boolean
  /** Removes a version and the tags on it; the package row goes with its last version. */
  removeVersion(repo: string, name: string, version: string): void
  removePackage(repo: string, name: string): void
  /** Bumps the package's rev and modified time (after any change); `at` defaults to now. */
  touch(repo: string, name: string, at?: number): void
  /** Points `latest` at the highest remaining version when it points nowhere. */
  ensureLatest(repo: string, name: string): void
  /** Latest version of every package in `repo`, by name. */
  searchCandidates(repo: string): SearchCandidate[]
}

interface RawVersion {
  repo: string
  name: string
  version: string
  manifest: string
  abbreviated: string
  deprecated: string | null
  path: string
  sha256: string
  shasum: string
  integrity: string
  size: number
  published_by: string | null
  published_at: number
}

function fromRaw(r: RawVersion): VersionRow {
  return {
    repo: r.repo,
    name: r.name,
    version: r.version,
    manifest: r.manifest,
    abbreviated: r.abbreviated,
    deprecated: r.deprecated,
    path: r.path,
    sha256: r.sha256,
    shasum: r.shasum,
    integrity: r.integrity,
    size: r.size,
    publishedBy: r.published_by,
    publishedAt: r.published_at,
  }
}

/** The highest version, preferring releases over prereleases (what `latest` should name). */
export function highestVersion(versions: readonly string[]): string | undefined {
  const sorted = [...versions].sort(semver.compare)
  const releases = sorted.filter((v) => semver.prerelease(v) === null)
  return releases[releases.length - 1] ?? sorted[sorted.length - 1]
}

export function createNpmIndex(db: Db): NpmIndex {
  const getPackage = db.prepare('SELECT repo, name, rev, created_at AS createdAt, modified_at AS modifiedAt FROM npm_packages WHERE repo = ? AND name = ?')
  const insertPackage = db.prepare(`INSERT INTO npm_packages (repo, name, rev, created_at, modified_at) VALUES (?, ?, 1, ?, ?)
    ON CONFLICT (repo, name) DO UPDATE SET created_at = MIN(created_at, excluded.created_at)`)
  const touch = db.prepare('UPDATE npm_packages SET rev = rev + 1, modified_at = ? WHERE repo = ? AND name = ?')
  const deletePackage = db.prepare('DELETE FROM npm_packages WHERE repo = ? AND name = ?')
  const versions = db.prepare('SELECT * FROM npm_versions WHERE repo = ? AND name = ?')
  const getVersion = db.prepare('SELECT * FROM npm_versions WHERE repo = ? AND name = ? AND version = ?')
  const countVersions = db.prepare('SELECT COUNT(*) AS n FROM npm_versions WHERE repo = ? AND name = ?')
  const insertVersion = db.prepare(`INSERT INTO npm_versions
    (repo, name, version, manifest, abbreviated, deprecated, path, sha256, shasum, integrity, size, published_by, published_at)
    VALUES (@repo, @name, @version, @manifest, @abbreviated, @deprecated, @path, @sha256, @shasum, @integrity, @size, @publishedBy, @publishedAt)`)
  const setDeprecated = db.prepare(
    'UPDATE npm_versions SET deprecated = ? WHERE repo = ? AND name = ? AND version = ? AND deprecated IS NOT ?',
  )
  const deleteVersion = db.prepare('DELETE FROM npm_versions WHERE repo = ? AND name = ? AND version = ?')
  const tags = db.prepare('SELECT tag, version FROM npm_dist_tags WHERE repo = ? AND name = ? ORDER BY tag')
  const upsertTag = db.prepare(
    'INSERT INTO npm_dist_tags (repo, name, tag, version) VALUES (?, ?, ?, ?) ON CONFLICT (repo, name, tag) DO UPDATE SET version = excluded.version',
  )
  const deleteTag = db.prepare('DELETE FROM npm_dist_tags WHERE repo = ? AND name = ? AND tag = ?')
  const candidates = db.prepare(`SELECT v.name, v.version, v.manifest, v.published_at AS publishedAt, v.published_by AS publishedBy
    FROM npm_dist_tags t JOIN npm_versions v ON v.repo = t.repo AND v.name = t.name AND v.version = t.version
    WHERE t.repo = ? AND t.tag = 'latest' ORDER BY v.name`)

  const index: NpmIndex = {
    getPackage: (repo, name) => getPackage.get(repo, name) as PackageRow | undefined,
    versions: (repo, name) => (versions.all(repo, name) as RawVersion[]).map(fromRaw),
    getVersion: (repo, name, version) => {
      const r = getVersion.get(repo, name, version) as RawVersion | undefined
      return r ? fromRaw(r) : undefined
    },
    tags: (repo, name) => {
      const out: Record<string, string> = {}
      for (const r of tags.all(repo, name) as { tag: string; version: string }[]) out[r.tag] = r.version
      return out
    },
    addVersion: (row, tagNames) => {
      const now = row.publishedAt
      insertPackage.run(row.repo, row.name, now, now)
      insertVersion.run(row)
      for (const tag of tagNames) upsertTag.run(row.repo, row.name, tag, row.version)
      index.ensureLatest(row.repo, row.name)
      touch.run(now, row.repo, row.name)
    },
    setDeprecated: (repo, name, version, message) => setDeprecated.run(message, repo, name, version, message).changes > 0,
    setTag: (repo, name, tag, version) => void upsertTag.run(repo, name, tag, version),
    removeTag: (repo, name, tag) => deleteTag.run(repo, name, tag).changes > 0,
    removeVersion: (repo, name, version) => {
      deleteVersion.run(repo, name, version)
      if ((countVersions.get(repo, name) as { n: number }).n === 0) deletePackage.run(repo, name)
    },
    removePackage: (repo, name) => void deletePackage.run(repo, name),
    touch: (repo, name, at) => void touch.run(at ?? Date.now(), repo, name),
    ensureLatest: (repo, name) => {
      const current = index.tags(repo, name)
      if (current.latest !== undefined) return
      const latest = highestVersion((versions.all(repo, name) as RawVersion[]).map((r) => r.version))
      if (latest !== undefined) upsertTag.run(repo, name, 'latest', latest)
    },
    searchCandidates: (repo) => candidates.all(repo) as SearchCandidate[],
  }
  return index
}
