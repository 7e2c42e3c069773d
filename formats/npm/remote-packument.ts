import { createHash } from 'node:crypto'
import { ABBREVIATED_FIELDS } from './constants.ts'
import type { PackageSource } from './packument.ts'
import type { VersionRow } from './npm-index.ts'

/**
 * Upstream packuments (npm registry API, package metadata) as remote repositories store them:
 * the raw upstream JSON. Pure functions: parse and check, rewrite tarball URLs to this node,
 * find a tarball's upstream URL, and turn a packument into a PackageSource for the virtual merge.
 */

export interface UpstreamPackument {
  name?: unknown
  'dist-tags'?: Record<string, unknown>
  versions?: Record<string, Record<string, unknown>>
  time?: Record<string, unknown>
  [key: string]: unknown
}

/** Parses an upstream packument; throws with a clear reason when it is not one. */
export function parsePackument(body: Buffer | string, name: string): UpstreamPackument {
  let doc: unknown
  try {
    doc = JSON.parse(body.toString())
  } catch (err) {
    throw new Error(`packument of '${name}' is not valid JSON (${(err as Error).message})`)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`packument of '${name}' is not a JSON object`)
  const p = doc as UpstreamPackument
  if (p.versions !== undefined && (typeof p.versions !== 'object' || p.versions === null || Array.isArray(p.versions))) {
    throw new Error(`packument of '${name}' has no versions object`)
  }
  if (p.name !== undefined && p.name !== name) throw new Error(`packument names '${String(p.name)}', not '${name}'`)
  return p
}

/** The last path segment of a tarball URL (decoded), or undefined. */
export function tarballFile(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined
  try {
    const segments = new URL(url).pathname.split('/')
    const last = segments[segments.length - 1]
    return last ? decodeURIComponent(last) : undefined
  } catch {
    return undefined
  }
}

function dist(v: Record<string, unknown>): Record<string, unknown> | undefined {
  const d = v.dist
  return typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : undefined
}

/** Points every dist.tarball at `{tarballBase}/{name}/-/{file}` (the node that serves the packument). */
export function rewriteTarballUrls(doc: UpstreamPackument, name: string, tarballBase: string): UpstreamPackument {
  for (const v of Object.values(doc.versions ?? {})) {
    const d = v && typeof v === 'object' ? dist(v) : undefined
    const file = d ? tarballFile(d.tarball) : undefined
    if (d && file) d.tarball = `${tarballBase}/${name}/-/${encodeURIComponent(file)}`
  }
  return doc
}

export interface UpstreamTarball {
  url: string
  version: string
  shasum: string | undefined
  /** sha512 in hex, from dist.integrity, when it has one. */
  sha512: string | undefined
}

/** The version whose tarball is `file` (by its upstream file name or npm's conventional one). */
export function findTarball(doc: UpstreamPackument, name: string, file: string): UpstreamTarball | undefined {
  const unscoped = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name
  for (const [version, v] of Object.entries(doc.versions ?? {})) {
    const d = v && typeof v === 'object' ? dist(v) : undefined
    if (!d || typeof d.tarball !== 'string') continue
    if (tarballFile(d.tarball) !== file && `${unscoped}-${version}.tgz` !== file) continue
    const integrity = typeof d.integrity === 'string' ? d.integrity : ''
    const m = /(?:^|\s)sha512-([A-Za-z0-9+/=]+)/.exec(integrity)
    return {
      url: d.tarball,
      version,
      shasum: typeof d.shasum === 'string' && /^[a-f0-9]{40}$/i.test(d.shasum) ? d.shasum.toLowerCase() : undefined,
      sha512: m ? Buffer.from(m[1] as string, 'base64').toString('hex') : undefined,
    }
  }
  return undefined
}

function ms(value: unknown, fallback: number): number {
  const t = typeof value === 'string' ? Date.parse(value) : NaN
  return Number.isFinite(t) ? t : fallback
}

/**
 * What a remote member holds of a package, in the shape of the local npm index, so that
 * mergePackage and renderPackument serve virtual repositories with local and remote members.
 */
export function packumentSource(repo: string, name: string, doc: UpstreamPackument, sha256: string, fetchedAt: number): PackageSource {
  const versions: VersionRow[] = []
  for (const [version, v] of Object.entries(doc.versions ?? {})) {
    if (!v || typeof v !== 'object') continue
    const d = dist(v) ?? {}
    const kept: Record<string, unknown> = {}
    for (const [k, value] of Object.entries(v)) if (k !== 'dist' && k !== 'deprecated' && k !== '_attachments') kept[k] = value
    const abbreviated: Record<string, unknown> = {}
    for (const field of ABBREVIATED_FIELDS) if (kept[field] !== undefined) abbreviated[field] = kept[field]
    const file = tarballFile(d.tarball) ?? `${name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name}-${version}.tgz`
    versions.push({
      repo,
      name,
      version,
      manifest: JSON.stringify(kept),
      abbreviated: JSON.stringify(abbreviated),
      deprecated: typeof v.deprecated === 'string' ? v.deprecated : null,
      path: `${name}/-/${file}`,
      sha256: '',
      shasum: typeof d.shasum === 'string' ? d.shasum : '',
      integrity: typeof d.integrity === 'string' ? d.integrity : '',
      size: typeof d.unpackedSize === 'number' ? d.unpackedSize : 0,
      publishedBy: null,
      publishedAt: ms(doc.time?.[version], fetchedAt),
    })
  }
  const tags: Record<string, string> = {}
  for (const [tag, version] of Object.entries(doc['dist-tags'] ?? {})) if (typeof version === 'string') tags[tag] = version
  const revNumber = Number.parseInt(createHash('sha1').update(sha256).digest('hex').slice(0, 8), 16)
  return {
    repo,
    pkg: {
      repo,
      name,
      rev: revNumber,
      createdAt: ms(doc.time?.created, fetchedAt),
      modifiedAt: ms(doc.time?.modified, fetchedAt),
    },
    versions,
    tags,
  }
}
