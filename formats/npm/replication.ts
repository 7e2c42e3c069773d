import type { Artifact, FormatReplicationHooks, PointerStore } from '../../store/index.ts'
import type { ReplicationContext } from '../core/index.ts'
import { REMOTE_METADATA_DIR, propertyText } from '../core/index.ts'
import { MAX_REPLICATED_MANIFEST_BYTES, NPM_FORMAT } from './constants.ts'
import { packageNameProblem, validateTag, validateVersion } from './names.ts'
import { createNpmIndex, highestVersion, type NpmIndex, type VersionRow } from './npm-index.ts'

/*
 * npm under replication. What another node needs to rebuild a package travels two ways:
 * - each version in its tarball artifact's properties (manifest, abbreviated manifest, digests,
 *   publisher, publish time), so a replicated `artifact.put` re-creates the npm_versions row and a
 *   replicated delete (unpublish) removes it;
 * - dist-tags and deprecations as mutable pointers (last writer wins by HLC everywhere):
 *   `dist-tag/<package>/<tag>` → version, `deprecated/<package>/<version>` → message.
 * The dist-tag rows, deprecations and modified time of a package are then derived from those two
 * alone (refreshPackage), by the local write paths and by the hooks alike, so every node that
 * holds the same events serves the same packument (its _rev, a local counter, aside).
 */

export const distTagPointer = (name: string, tag: string) => `dist-tag/${name}/${tag}`
export const deprecationPointer = (name: string, version: string) => `deprecated/${name}/${version}`
const distTagPrefix = (name: string) => `dist-tag/${name}/`
const deprecationPrefix = (name: string) => `deprecated/${name}/`

/** Property keys of a tarball artifact. */
const P = {
  name: 'npm.name',
  version: 'npm.version',
  manifest: 'npm.manifest',
  abbreviated: 'npm.abbreviated',
  shasum: 'npm.shasum',
  integrity: 'npm.integrity',
  publishedBy: 'npm.publishedBy',
  publishedAt: 'npm.publishedAt',
} as const

/** A stored manifest text cut to MAX_REPLICATED_MANIFEST_BYTES: without readme, else the abbreviated one. */
function boundedManifest(manifest: string, abbreviated: string): string {
  if (Buffer.byteLength(manifest) <= MAX_REPLICATED_MANIFEST_BYTES) return manifest
  const parsed = JSON.parse(manifest) as Record<string, unknown>
  delete parsed.readme
  const slim = JSON.stringify(parsed)
  return Buffer.byteLength(slim) <= MAX_REPLICATED_MANIFEST_BYTES ? slim : abbreviated
}

/** The properties of a version's tarball artifact: the npm_versions row, minus what the artifact itself says. */
export function versionProperties(row: Omit<VersionRow, 'deprecated'>): Record<string, unknown> {
  return {
    [P.name]: row.name,
    [P.version]: row.version,
    [P.manifest]: boundedManifest(row.manifest, row.abbreviated),
    [P.abbreviated]: Buffer.byteLength(row.abbreviated) <= MAX_REPLICATED_MANIFEST_BYTES ? row.abbreviated : JSON.stringify({ name: row.name, version: row.version }),
    [P.shasum]: row.shasum,
    [P.integrity]: row.integrity,
    [P.publishedBy]: row.publishedBy,
    [P.publishedAt]: row.publishedAt,
  }
}

/** The version row a replicated tarball artifact describes; undefined for one published without these properties. */
export function versionFromArtifact(repo: string, artifact: Artifact): VersionRow | undefined {
  const p = artifact.properties
  const str = (k: string) => (typeof p[k] === 'string' ? (p[k] as string) : undefined)
  const name = str(P.name)
  const version = str(P.version)
  const manifest = str(P.manifest)
  const abbreviated = str(P.abbreviated)
  const shasum = str(P.shasum)
  const integrity = str(P.integrity)
  const publishedAt = p[P.publishedAt]
  if (!name || !version || !manifest || !abbreviated || !shasum || !integrity || typeof publishedAt !== 'number') return undefined
  return {
    repo,
    name,
    version,
    manifest,
    abbreviated,
    deprecated: null,
    path: artifact.path,
    sha256: artifact.sha256,
    shasum,
    integrity,
    size: artifact.size,
    publishedBy: str(P.publishedBy) ?? null,
    publishedAt,
  }
}

/** Local writes: makes the `latest` pointer name an existing version (the highest) when it does not. */
export function ensureLatestPointer(index: NpmIndex, pointers: PointerStore, repo: string, name: string, by: string | null): void {
  const versions = index.versions(repo, name).map((v) => v.version)
  if (versions.length === 0) return
  const current = pointers.get(repo, distTagPointer(name, 'latest'))?.value
  if (typeof current === 'string' && versions.includes(current)) return
  const highest = highestVersion(versions)
  if (highest !== undefined) pointers.set(repo, distTagPointer(name, 'latest'), highest, by)
}

/** Local writes: removes the pointers about a version that goes (tags on it, its deprecation), as the rows' cascade does. */
export function removeVersionPointers(pointers: PointerStore, repo: string, name: string, version: string, by: string | null): void {
  for (const p of pointers.list(repo, distTagPrefix(name))) if (p.value === version) pointers.delete(repo, p.name, by)
  if (pointers.get(repo, deprecationPointer(name, version))) pointers.delete(repo, deprecationPointer(name, version), by)
}

/** Local writes: removes every pointer of a package (the whole package is deleted). */
export function removePackagePointers(pointers: PointerStore, repo: string, name: string, by: string | null): void {
  for (const p of [...pointers.list(repo, distTagPrefix(name)), ...pointers.list(repo, deprecationPrefix(name))]) pointers.delete(repo, p.name, by)
}

/**
 * Derives a package's dist-tag rows, deprecations and modified time from its versions and
 * pointers: a tag shows when its version exists; `latest` falls back to the highest version; the
 * modified time is the latest of the publish times and pointer changes. Bumps rev on a change,
 * or always with `changed` (the caller added or removed a version: the packument's ETag must move).
 */
export function refreshPackage(index: NpmIndex, pointers: PointerStore, repo: string, name: string, changed = false): void {
  const pkg = index.getPackage(repo, name)
  if (!pkg) return
  const versions = index.versions(repo, name)
  if (versions.length === 0) {
    index.removePackage(repo, name)
    return
  }
  const have = new Set(versions.map((v) => v.version))
  const tagPrefix = distTagPrefix(name)
  const depPrefix = deprecationPrefix(name)
  const tagPointers = pointers.list(repo, tagPrefix, { removed: true })
  const depPointers = pointers.list(repo, depPrefix, { removed: true })
  const desired: Record<string, string> = {}
  for (const p of tagPointers) if (typeof p.value === 'string' && have.has(p.value)) desired[p.name.slice(tagPrefix.length)] = p.value
  if (desired.latest === undefined) {
    const highest = highestVersion([...have])
    if (highest !== undefined) desired.latest = highest
  }
  const current = index.tags(repo, name)
  for (const tag of Object.keys(current)) {
    if (desired[tag] === undefined) changed = index.removeTag(repo, name, tag) || changed
  }
  for (const [tag, version] of Object.entries(desired)) {
    if (current[tag] === version) continue
    index.setTag(repo, name, tag, version)
    changed = true
  }
  const deprecated = new Map<string, string>()
  for (const p of depPointers) if (typeof p.value === 'string' && p.value !== '') deprecated.set(p.name.slice(depPrefix.length), p.value)
  for (const v of versions) changed = index.setDeprecated(repo, name, v.version, deprecated.get(v.version) ?? null) || changed
  let modified = 0
  for (const v of versions) modified = Math.max(modified, v.publishedAt)
  for (const p of tagPointers) modified = Math.max(modified, p.hlc.ms)
  for (const p of depPointers) modified = Math.max(modified, p.hlc.ms)
  if (changed || modified !== pkg.modifiedAt) index.touch(repo, name, modified)
}

/** The package a pointer name is about, or undefined for a name that is not npm's. */
function packageOfPointer(pointer: string): string | undefined {
  for (const kind of ['dist-tag/', 'deprecated/']) {
    if (!pointer.startsWith(kind)) continue
    const slash = pointer.lastIndexOf('/')
    return slash > kind.length ? pointer.slice(kind.length, slash) : undefined
  }
  return undefined
}

const PACKUMENT_FILES = new Set(['packument.json', 'packument.abbreviated.json'])

/**
 * Why a replicated path is none an npm repository writes: `{name}/-/{file}` (tarballs, local or
 * fetched by a remote repository) and `.remote/{name}/packument[.abbreviated].json`, with a
 * name that may exist (validate-npm-package-name's rules for existing packages).
 */
export function npmPathProblem(path: string): string | undefined {
  let name: string
  if (path.startsWith(`${REMOTE_METADATA_DIR}/`)) {
    const slash = path.lastIndexOf('/')
    name = path.slice(REMOTE_METADATA_DIR.length + 1, slash)
    if (!PACKUMENT_FILES.has(path.slice(slash + 1))) return `'${path}' is not an npm packument path`
  } else {
    const sep = path.indexOf('/-/')
    if (sep <= 0 || path.slice(sep + 3).includes('/')) return `'${path}' is not an npm tarball path`
    name = path.slice(0, sep)
  }
  const problem = packageNameProblem(name, 'existing')
  return problem && `invalid package name '${name}': ${problem}`
}

/** Why a replicated pointer is none npm sets: `dist-tag/{name}/{tag}` or `deprecated/{name}/{version}`. */
export function npmPointerProblem(pointer: string): string | undefined {
  const name = packageOfPointer(pointer)
  if (name === undefined) return `'${pointer}' is not an npm pointer`
  const problem = packageNameProblem(name, 'existing')
  if (problem) return `invalid package name '${name}': ${problem}`
  const last = pointer.slice(pointer.lastIndexOf('/') + 1)
  try {
    if (pointer.startsWith('dist-tag/')) validateTag(last)
    else validateVersion(last)
  } catch (err) {
    return (err as Error).message
  }
  return undefined
}

/** Keeps npm_packages / npm_versions / npm_dist_tags in step with replicated tarballs and pointers. */
export function npmReplicationHooks(ctx: ReplicationContext): FormatReplicationHooks {
  const index = createNpmIndex(ctx.db)
  return {
    format: NPM_FORMAT,
    packageName: (p) => propertyText(p, 'npm.name'),
    pathProblem: npmPathProblem,
    pointerProblem: npmPointerProblem,
    artifactChanged({ repo, path, artifact }) {
      const sep = path.indexOf('/-/')
      if (sep <= 0) return
      const name = path.slice(0, sep)
      if (artifact) {
        const row = versionFromArtifact(repo, artifact)
        if (!row || row.name !== name) return
        const existing = index.getVersion(repo, name, row.version)
        if (existing && existing.sha256 === row.sha256 && existing.path === row.path) return
        // Another winner for the same version (a conflict settled differently): replace the row.
        if (existing) index.removeVersion(repo, name, row.version)
        index.addVersion(row, [])
      } else {
        const gone = index.versions(repo, name).find((v) => v.path === path)
        if (!gone) return
        index.removeVersion(repo, name, gone.version)
      }
      refreshPackage(index, ctx.pointers, repo, name, true)
    },
    pointerChanged({ repo, name }) {
      const pkg = packageOfPointer(name)
      if (pkg !== undefined) refreshPackage(index, ctx.pointers, repo, pkg)
    },
  }
}
