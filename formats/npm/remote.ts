import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { cacheHeaders, etagMatches, remoteEngine, REMOTE_METADATA_DIR, type CacheStatus, type MutableResult } from '../core/index.ts'
import { NotFoundError, type Repository } from '../../store/index.ts'
import { ABBREVIATED_MEDIA_TYPE, NPM_FORMAT } from './constants.ts'
import { mergePackage, type MergedPackage, type PackageSource } from './packument.ts'
import type { NpmDeps } from './read.ts'
import { findTarball, packumentSource, parsePackument, rewriteTarballUrls, type UpstreamPackument } from './remote-packument.ts'

/**
 * npm remote repositories: packuments fetched from the upstream and kept as raw JSON at
 * `.remote/{name}/packument[.abbreviated].json` (mutable: TTL, revalidation, stale-if-error),
 * tarballs at `{name}/-/{file}` like a local repository (immutable, verified against the
 * packument's shasum and sha512 integrity). Tarball URLs are rewritten when served, to the
 * repository the client addressed on this node.
 */

/** Where the upstream packument of `name` is stored. */
export function packumentPath(name: string, abbreviated: boolean): string {
  return `${REMOTE_METADATA_DIR}/${name}/${abbreviated ? 'packument.abbreviated.json' : 'packument.json'}`
}

/** The packument's URL on the upstream: scoped names as one escaped segment (`@scope%2fname`), as the npm CLI asks. */
function packumentUrl(deps: NpmDeps, repo: Repository, name: string): string {
  const escaped = name.startsWith('@') ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name)
  return remoteEngine(deps.ctx).upstreamUrl(repo, escaped)
}

async function fetchPackument(deps: NpmDeps, repo: Repository, name: string, abbreviated: boolean): Promise<{ doc: UpstreamPackument; result: MutableResult }> {
  const result = await remoteEngine(deps.ctx).fetchMutable(repo, {
    path: packumentPath(name, abbreviated),
    url: packumentUrl(deps, repo, name),
    accept: abbreviated ? `${ABBREVIATED_MEDIA_TYPE}; q=1.0, application/json; q=0.8, */*` : 'application/json',
    validate: (body) => void parsePackument(body, name),
  })
  return { doc: parsePackument(await result.body(), name), result }
}

function tarballBaseOf(deps: NpmDeps, request: FastifyRequest, repo: Repository): string {
  return `${deps.ctx.baseUrl(request)}/${NPM_FORMAT}/${repo.key}`
}

/** GET /{name} of a remote repository: the upstream packument with its tarball URLs pointing here. */
export async function getRemotePackument(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string, abbreviated: boolean) {
  const { doc, result } = await fetchPackument(deps, repo, name, abbreviated)
  const base = tarballBaseOf(deps, request, repo)
  const text = JSON.stringify(rewriteTarballUrls(doc, name, base))
  const etag = `W/"${createHash('sha1').update(`${result.blob.sha256}\0${base}\0${abbreviated ? 'a' : 'f'}`).digest('hex')}"`
  cacheHeaders(reply, result.cache)
  reply.header('etag', etag).header('vary', 'accept, authorization').header('cache-control', 'no-cache')
  reply.header('last-modified', new Date(Math.floor(result.artifact.updatedAt / 1000) * 1000).toUTCString())
  if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()
  reply.type(abbreviated ? `${ABBREVIATED_MEDIA_TYPE}; charset=utf-8` : 'application/json; charset=utf-8')
  return reply.send(text)
}

/** A package as several repositories show it, remote members included; with the remote cache status, if any. */
export interface LoadedPackage {
  pkg: MergedPackage | undefined
  cache: CacheStatus | undefined
}

/**
 * The package across `repos` in read order, local members from the npm index and remote ones
 * from their upstream packuments. A remote member that fails is skipped while another member
 * has the package; when none has it, its error is what the client sees (502, not 404).
 */
export async function loadPackageAnywhere(deps: NpmDeps, repos: readonly Repository[], name: string, abbreviated: boolean): Promise<LoadedPackage> {
  const sources: PackageSource[] = []
  let cache: CacheStatus | undefined
  let failure: unknown
  for (const r of repos) {
    if (r.type === 'remote') {
      try {
        const { doc, result } = await fetchPackument(deps, r, name, abbreviated)
        sources.push(packumentSource(r.key, name, doc, result.blob.sha256, result.artifact.updatedAt))
        if (cache === undefined || result.cache === 'STALE') cache = result.cache
      } catch (err) {
        if (!(err instanceof NotFoundError)) failure ??= err
      }
      continue
    }
    const pkg = deps.index.getPackage(r.key, name)
    if (pkg) sources.push({ repo: r.key, pkg, versions: deps.index.versions(r.key, name), tags: deps.index.tags(r.key, name) })
  }
  const pkg = mergePackage(name, sources)
  if (!pkg && failure) throw failure
  return { pkg, cache }
}

/**
 * GET/HEAD /{name}/-/{file} from a remote member: its stored copy, else the upstream tarball the
 * member's packument names (verified against shasum and integrity). Undefined when the member's
 * packument has no such file.
 */
export async function serveRemoteTarball(
  deps: NpmDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  repo: Repository,
  name: string,
  file: string,
): Promise<boolean> {
  const { ctx } = deps
  const engine = remoteEngine(ctx)
  const path = `${name}/-/${file}`
  const stored = ctx.artifacts.get(repo.key, path)
  if (stored && typeof stored.properties.upstreamUrl === 'string') {
    await engine.serveImmutable(request, reply, repo, { path, url: stored.properties.upstreamUrl, contentType: 'application/octet-stream' })
    return true
  }
  if (await engine.joinDownload(request, reply, repo, path)) return true
  // Whichever form of the packument this node already holds; npm install fetched the abbreviated one.
  const abbreviated = ctx.artifacts.get(repo.key, packumentPath(name, false)) === undefined
  let doc: UpstreamPackument
  try {
    doc = (await fetchPackument(deps, repo, name, abbreviated)).doc
  } catch (err) {
    if (err instanceof NotFoundError) return false
    throw err
  }
  const found = findTarball(doc, name, file)
  if (!found) return false
  await engine.serveImmutable(request, reply, repo, {
    path,
    url: found.url,
    contentType: 'application/octet-stream',
    expected: { sha1: found.shasum, sha512: found.sha512 },
  })
  return true
}
