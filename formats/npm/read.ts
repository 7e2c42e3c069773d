import type { FastifyReply, FastifyRequest } from 'fastify'
import semver from 'semver'
import { readOrder, deployTarget, sendBlob, etagMatches } from '../core/index.ts'
import type { FormatContext } from '../core/index.ts'
import { ArtifactNotFoundError, NotFoundError, type Repository } from '../../store/index.ts'
import { ABBREVIATED_MEDIA_TYPE, DEFAULT_SEARCH_SIZE, MAX_SEARCH_SIZE, NPM_FORMAT } from './constants.ts'
import type { NpmIndex, SearchCandidate } from './npm-index.ts'
import { requireExistingName } from './names.ts'
import { mergePackage, packumentEtag, renderPackument, renderVersion, type MergedPackage, type PackageSource } from './packument.ts'
import { getRemotePackument, loadPackageAnywhere, serveRemoteTarball } from './remote.ts'
import { cacheHeaders } from '../core/index.ts'

export interface NpmDeps {
  ctx: FormatContext
  index: NpmIndex
}

/** Where tarball URLs of `repo` point: `{base}/npm/{repo}`. */
export function tarballBase(ctx: FormatContext, request: FastifyRequest, repo: Repository): string {
  return `${ctx.baseUrl(request)}/${NPM_FORMAT}/${repo.key}`
}

function packageNotFound(name: string): never {
  throw new NotFoundError(`package '${name}' not found`)
}

/** The package as `repos` (in read order) show it, or undefined. */
export function loadPackage({ index }: NpmDeps, repos: readonly Repository[], name: string): MergedPackage | undefined {
  const sources: PackageSource[] = []
  for (const r of repos) {
    const pkg = index.getPackage(r.key, name)
    if (pkg) sources.push({ repo: r.key, pkg, versions: index.versions(r.key, name), tags: index.tags(r.key, name) })
  }
  return mergePackage(name, sources)
}

/** The deploy target of a virtual repository, when the caller may read it (else nothing: not found). */
function writeView(ctx: FormatContext, request: FastifyRequest, repo: Repository): Repository[] {
  const target = deployTarget(ctx, repo)
  return ctx.can(request, target, 'read') ? [target] : []
}

function wantsAbbreviated(request: FastifyRequest): boolean {
  const accept = request.headers.accept
  return typeof accept === 'string' && accept.includes(ABBREVIATED_MEDIA_TYPE)
}

/** GET /{name}: the full or abbreviated packument (by Accept), with a weak ETag. */
export async function getPackument(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string, query: URLSearchParams) {
  deps.ctx.authorize(request, repo, 'read')
  requireExistingName(name)
  // ?write=true is the document a client edits and PUTs back (deprecate, unpublish): the one
  // repository that takes writes, not the merged view, and only for callers who may read it.
  const write = query.get('write') === 'true'
  if (repo.type === 'remote') return getRemotePackument(deps, request, reply, repo, name, wantsAbbreviated(request))
  const repos = write && repo.type === 'virtual' ? writeView(deps.ctx, request, repo) : readOrder(deps.ctx, request, repo)
  const abbreviated = !write && wantsAbbreviated(request)
  const loaded = await loadPackageAnywhere(deps, repos, name, abbreviated)
  const pkg = loaded.pkg
  if (!pkg) packageNotFound(name)
  if (loaded.cache) cacheHeaders(reply, loaded.cache)
  const base = tarballBase(deps.ctx, request, repo)
  const etag = packumentEtag(pkg, base, abbreviated)
  reply.header('etag', etag).header('vary', 'accept, authorization').header('cache-control', 'no-cache')
  reply.header('last-modified', new Date(Math.floor(pkg.modifiedAt / 1000) * 1000).toUTCString())
  if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()
  reply.type(abbreviated ? `${ABBREVIATED_MEDIA_TYPE}; charset=utf-8` : 'application/json; charset=utf-8')
  return reply.send(renderPackument(pkg, base, abbreviated))
}

/** GET /{name}/{version|tag}: one version's manifest. */
export async function getVersion(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string, spec: string) {
  deps.ctx.authorize(request, repo, 'read')
  requireExistingName(name)
  const pkg = (await loadPackageAnywhere(deps, readOrder(deps.ctx, request, repo), name, false)).pkg
  if (!pkg) packageNotFound(name)
  const version = pkg.tags[spec] ?? (semver.valid(spec) ? spec : semver.maxSatisfying(pkg.versions.map((v) => v.version), spec))
  const row = pkg.versions.find((v) => v.version === version)
  if (!row) throw new NotFoundError(`version '${spec}' of '${name}' not found`)
  return reply.type('application/json; charset=utf-8').send(renderVersion(row, tarballBase(deps.ctx, request, repo)))
}

/** GET/HEAD /{name}/-/{file}: the tarball, first hit in read order. */
export async function getTarball(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string, file: string) {
  const { ctx } = deps
  ctx.authorize(request, repo, 'read')
  requireExistingName(name)
  const path = `${name}/-/${file}`
  for (const r of readOrder(ctx, request, repo)) {
    if (r.type === 'remote') {
      if (await serveRemoteTarball(deps, request, reply, r, name, file)) return reply
      continue
    }
    const artifact = ctx.artifacts.get(r.key, path)
    if (!artifact) continue
    const blob = ctx.blobIndex.get(artifact.sha256)
    if (!blob) throw new ArtifactNotFoundError(`the bytes of '${path}' are not on this node`)
    return sendBlob(request, reply, ctx.blobs, { blob, contentType: 'application/octet-stream', lastModified: artifact.createdAt })
  }
  throw new NotFoundError(`tarball '${path}' not found`)
}

/** GET /-/package/{name}/dist-tags. */
export async function getDistTags(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string) {
  deps.ctx.authorize(request, repo, 'read')
  requireExistingName(name)
  const pkg = (await loadPackageAnywhere(deps, readOrder(deps.ctx, request, repo), name, true)).pkg
  if (!pkg) packageNotFound(name)
  return reply.header('cache-control', 'no-cache').send(pkg.tags)
}

function score(c: SearchCandidate, manifest: Record<string, unknown>, terms: string[]): number {
  const name = c.name.toLowerCase()
  const description = typeof manifest.description === 'string' ? manifest.description.toLowerCase() : ''
  const keywords = Array.isArray(manifest.keywords) ? manifest.keywords.filter((k): k is string => typeof k === 'string').map((k) => k.toLowerCase()) : []
  let total = 0
  for (const term of terms) {
    if (name === term || unscoped(name) === term) total += 1
    else if (name.includes(term)) total += 0.8
    else if (keywords.includes(term)) total += 0.6
    else if (description.includes(term) || keywords.some((k) => k.includes(term))) total += 0.4
    else return 0
  }
  return terms.length === 0 ? 1 : total / terms.length
}

function unscoped(name: string): string {
  return name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name
}

/**
 * GET /-/v1/search?text=&size=&from=: every term must occur in the name, description or
 * keywords of a package's latest version; exact names rank first. Results use the npm
 * registry's shape ({objects: [{package, score, searchScore}], total, time}).
 */
export async function search(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, query: URLSearchParams) {
  deps.ctx.authorize(request, repo, 'read')
  const terms = (query.get('text') ?? '').toLowerCase().split(/\s+/).filter((t) => t !== '')
  const size = Math.min(Math.max(Number.parseInt(query.get('size') ?? '', 10) || DEFAULT_SEARCH_SIZE, 1), MAX_SEARCH_SIZE)
  const from = Math.max(Number.parseInt(query.get('from') ?? '', 10) || 0, 0)
  const seen = new Set<string>()
  const hits: { c: SearchCandidate; manifest: Record<string, unknown>; score: number }[] = []
  for (const r of readOrder(deps.ctx, request, repo)) {
    for (const c of deps.index.searchCandidates(r.key)) {
      if (seen.has(c.name)) continue
      seen.add(c.name)
      const manifest = JSON.parse(c.manifest) as Record<string, unknown>
      const s = score(c, manifest, terms)
      if (s > 0) hits.push({ c, manifest, score: s })
    }
  }
  hits.sort((a, b) => b.score - a.score || a.c.name.localeCompare(b.c.name))
  const base = tarballBase(deps.ctx, request, repo)
  const objects = hits.slice(from, from + size).map(({ c, manifest, score: s }) => ({
    package: {
      name: c.name,
      scope: c.name.startsWith('@') ? c.name.slice(1, c.name.indexOf('/')) : 'unscoped',
      version: c.version,
      description: typeof manifest.description === 'string' ? manifest.description : '',
      keywords: Array.isArray(manifest.keywords) ? manifest.keywords : [],
      date: new Date(c.publishedAt).toISOString(),
      links: { npm: `${base}/${c.name}` },
      publisher: c.publishedBy ? { username: c.publishedBy } : undefined,
      maintainers: c.publishedBy ? [{ username: c.publishedBy }] : [],
    },
    score: { final: s, detail: { quality: s, popularity: s, maintenance: s } },
    searchScore: s,
  }))
  return reply.header('cache-control', 'no-cache').send({ objects, total: hits.length, time: new Date().toUTCString() })
}
