import { createHash } from 'node:crypto'
import { ABBREVIATED_FIELDS, ROOT_FIELDS } from './constants.ts'
import type { PackageRow, VersionRow } from './npm-index.ts'
import { tarballFileName } from './names.ts'
import semver from 'semver'

/** What one repository holds of a package. */
export interface PackageSource {
  repo: string
  pkg: PackageRow
  versions: VersionRow[]
  tags: Record<string, string>
}

/** A package as a (possibly virtual) repository shows it: members merged in read order. */
export interface MergedPackage {
  name: string
  /** Ascending by semver. */
  versions: VersionRow[]
  tags: Record<string, string>
  createdAt: number
  modifiedAt: number
  /** Identifies this state of the package (CouchDB-style `_rev`). */
  rev: string
}

/**
 * Merges what each repository holds, in read order: the first member that has a version wins
 * it, a dist-tag comes from the first member that has the tag (and only if its version is
 * shown). Undefined when no member has the package.
 */
export function mergePackage(name: string, sources: readonly PackageSource[]): MergedPackage | undefined {
  if (sources.length === 0) return undefined
  const byVersion = new Map<string, VersionRow>()
  const tags: Record<string, string> = {}
  const revHash = createHash('sha1')
  let revSum = 0
  for (const s of sources) {
    for (const v of s.versions) if (!byVersion.has(v.version)) byVersion.set(v.version, v)
    for (const [tag, version] of Object.entries(s.tags)) if (tags[tag] === undefined) tags[tag] = version
    revHash.update(`${s.repo}\0${s.pkg.rev}\0`)
    revSum += s.pkg.rev
  }
  for (const [tag, version] of Object.entries(tags)) if (!byVersion.has(version)) delete tags[tag]
  if (byVersion.size === 0) return undefined
  return {
    name,
    versions: [...byVersion.values()].sort((a, b) => semver.compare(a.version, b.version)),
    tags,
    createdAt: Math.min(...sources.map((s) => s.pkg.createdAt)),
    modifiedAt: Math.max(...sources.map((s) => s.pkg.modifiedAt)),
    rev: `${revSum}-${revHash.digest('hex').slice(0, 32)}`,
  }
}

/** Weak ETag of a packument: changes with the package, the URL base and the form. */
export function packumentEtag(pkg: MergedPackage, tarballBase: string, abbreviated: boolean): string {
  const h = createHash('sha1').update(`${pkg.name}\0${pkg.rev}\0${tarballBase}\0${abbreviated ? 'a' : 'f'}`).digest('hex')
  return `W/"${h}"`
}

function distJson(v: VersionRow, tarballBase: string): string {
  const url = `${tarballBase}/${v.name}/-/${tarballFileName(v.name, v.version)}`
  return `{"integrity":${JSON.stringify(v.integrity)},"shasum":"${v.shasum}","tarball":${JSON.stringify(url)}}`
}

/** Adds deprecated and dist to a stored manifest text (a JSON object, as JSON.stringify writes it). */
function versionJson(text: string, v: VersionRow, tarballBase: string): string {
  let extra = v.deprecated ? `"deprecated":${JSON.stringify(v.deprecated)},` : ''
  extra += `"dist":${distJson(v, tarballBase)}`
  return text === '{}' ? `{${extra}}` : `${text.slice(0, -1)},${extra}}`
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

/**
 * The packument as JSON text, assembled from the stored manifest texts without parsing them
 * (npm registry API: package metadata). The full form adds `_id`, `_rev`, `time`, maintainers
 * and the package-level fields of the `latest` version; the abbreviated form
 * (application/vnd.npm.install-v1+json) is what `npm install` asks for.
 */
export function renderPackument(pkg: MergedPackage, tarballBase: string, abbreviated: boolean): string {
  const versions = pkg.versions.map((v) => `${JSON.stringify(v.version)}:${versionJson(abbreviated ? v.abbreviated : v.manifest, v, tarballBase)}`)
  const tags = JSON.stringify(pkg.tags)
  if (abbreviated) {
    return `{"name":${JSON.stringify(pkg.name)},"modified":"${iso(pkg.modifiedAt)}","dist-tags":${tags},"versions":{${versions.join(',')}}}`
  }
  const time: Record<string, string> = { created: iso(pkg.createdAt), modified: iso(pkg.modifiedAt) }
  for (const v of pkg.versions) time[v.version] = iso(v.publishedAt)
  const latestVersion = pkg.tags.latest ?? pkg.versions[pkg.versions.length - 1]?.version
  const latest = pkg.versions.find((v) => v.version === latestVersion)
  const root: Record<string, unknown> = { _id: pkg.name, _rev: pkg.rev, name: pkg.name }
  if (latest) {
    const manifest = JSON.parse(latest.manifest) as Record<string, unknown>
    for (const field of ROOT_FIELDS) if (manifest[field] !== undefined) root[field] = manifest[field]
  }
  const maintainers = [...new Set(pkg.versions.map((v) => v.publishedBy).filter((n): n is string => n !== null))]
  root.maintainers = maintainers.map((name) => ({ name }))
  root.time = time
  const head = JSON.stringify(root)
  return `${head.slice(0, -1)},"dist-tags":${tags},"versions":{${versions.join(',')}}}`
}

/** One version's manifest as JSON text (GET /{name}/{version}). */
export function renderVersion(v: VersionRow, tarballBase: string): string {
  return versionJson(v.manifest, v, tarballBase)
}

/**
 * Splits a published version manifest into what is stored: the manifest without the
 * registry-owned fields (dist, deprecated, which are spliced in when serving) and its
 * abbreviated subset. `hasInstallScript` is derived from the scripts, as the npm registry does.
 */
export function storedManifests(manifest: Record<string, unknown>): { manifest: string; abbreviated: string } {
  const kept: Record<string, unknown> = {}
  for (const [k, value] of Object.entries(manifest)) if (k !== 'dist' && k !== 'deprecated' && k !== '_attachments') kept[k] = value
  const scripts = (manifest.scripts ?? {}) as Record<string, unknown>
  if (typeof scripts === 'object' && ['preinstall', 'install', 'postinstall'].some((s) => s in scripts)) kept.hasInstallScript = true
  const abbreviated: Record<string, unknown> = {}
  for (const field of ABBREVIATED_FIELDS) if (kept[field] !== undefined) abbreviated[field] = kept[field]
  return { manifest: JSON.stringify(kept), abbreviated: JSON.stringify(abbreviated) }
}
