import type { FastifyReply, FastifyRequest } from 'fastify'
import { remoteEngine, REMOTE_METADATA_DIR, type CacheStatus, type FormatContext } from '../core/index.ts'
import { NotFoundError, type Repository } from '../../store/index.ts'
import { SIMPLE_HTML, SIMPLE_JSON, TEXT_HTML } from './constants.ts'
import { distPath, METADATA_SUFFIX, PACKAGES_DIR } from './layout.ts'
import { fromIndexFile, parseProjectPage, type SimpleFile } from './remote-page.ts'
import type { IndexFile } from './simple-index.ts'

/**
 * PyPI remote repositories: an upstream simple index (upstream.url is the index root, with or
 * without a trailing /simple). Project pages are kept raw at `.remote/simple/{project}/page`
 * (mutable: TTL, revalidation, stale-if-error); distribution files and their PEP 658 metadata
 * at `packages/{project}/{filename}`, as in a local repository (immutable, checked against the
 * page's hashes). Pages are re-rendered for the client with every file URL pointing here.
 */

/** Where a project's upstream page is stored; the directory lists the cached projects. */
export const REMOTE_PAGES_DIR = `${REMOTE_METADATA_DIR}/simple`

export function remotePagePath(project: string): string {
  return `${REMOTE_PAGES_DIR}/${project}/page`
}

/** PEP 691: JSON preferred, HTML accepted (older indexes and plain web servers). */
const UPSTREAM_ACCEPT = `${SIMPLE_JSON}, ${SIMPLE_HTML};q=0.2, ${TEXT_HTML};q=0.1`

function pageUrl(ctx: FormatContext, repo: Repository, project: string): string {
  const { url } = remoteEngine(ctx).upstream(repo)
  return /\/simple$/.test(url) ? `${url}/${project}/` : `${url}/simple/${project}/`
}

/** The upstream page of `project`, parsed (absolute upstream file URLs). */
export async function fetchRemotePage(ctx: FormatContext, repo: Repository, project: string): Promise<{ files: SimpleFile[]; cache: CacheStatus }> {
  const url = pageUrl(ctx, repo, project)
  const result = await remoteEngine(ctx).fetchMutable(repo, {
    path: remotePagePath(project),
    url,
    accept: UPSTREAM_ACCEPT,
    validate: (body, contentType) => void parseProjectPage(body.toString('utf8'), contentType, url),
  })
  const base = typeof result.artifact.properties.upstreamUrl === 'string' ? result.artifact.properties.upstreamUrl : url
  return { files: parseProjectPage((await result.body()).toString('utf8'), result.contentType, base), cache: result.cache }
}

/** The URL of a file relative to a project page of this node (`/pypi/{repo}/simple/{project}/`). */
function servedUrl(project: string, filename: string): string {
  return `../../${PACKAGES_DIR}/${project}/${encodeURIComponent(filename)}`
}

/**
 * A project's files across the members in read order (first member wins per filename), remote
 * members from their upstream pages. A failing remote member is skipped while others have files;
 * when none has any, its error is the answer (502, not 404).
 */
export async function mergedProjectFiles(
  ctx: FormatContext,
  members: readonly Repository[],
  project: string,
  localFiles: (member: Repository) => IndexFile[],
): Promise<{ files: SimpleFile[]; cache: CacheStatus | undefined }> {
  const byName = new Map<string, SimpleFile>()
  let cache: CacheStatus | undefined
  let failure: unknown
  for (const m of members) {
    if (m.type === 'remote') {
      try {
        const page = await fetchRemotePage(ctx, m, project)
        if (cache === undefined || page.cache === 'STALE') cache = page.cache
        for (const f of page.files) if (!byName.has(f.filename)) byName.set(f.filename, { ...f, url: servedUrl(project, f.filename) })
      } catch (err) {
        if (!(err instanceof NotFoundError)) failure ??= err
      }
      continue
    }
    for (const f of localFiles(m)) if (!byName.has(f.filename)) byName.set(f.filename, fromIndexFile(f))
  }
  if (byName.size === 0 && failure) throw failure
  return { files: [...byName.values()], cache }
}

/**
 * GET/HEAD of `packages/{project}/{filename}` from a remote member: its stored copy, else the
 * file its upstream page links (or that file's `.metadata`). False when the page has no such file;
 * true when it answered (the handler then returns `reply`).
 */
export async function serveRemoteFile(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  repo: Repository,
  project: string,
  filename: string,
): Promise<boolean> {
  const engine = remoteEngine(ctx)
  const path = distPath(project, filename)
  const stored = ctx.artifacts.get(repo.key, path)
  if (stored && typeof stored.properties.upstreamUrl === 'string') {
    await engine.serveImmutable(request, reply, repo, { path, url: stored.properties.upstreamUrl })
    return true
  }
  const metadata = filename.endsWith(METADATA_SUFFIX)
  const distName = metadata ? filename.slice(0, -METADATA_SUFFIX.length) : filename
  let files: SimpleFile[]
  try {
    files = (await fetchRemotePage(ctx, repo, project)).files
  } catch (err) {
    if (err instanceof NotFoundError) return false
    throw err
  }
  const f = files.find((x) => x.filename === distName)
  if (!f) return false
  if (metadata) {
    if (!f.coreMetadata) return false
    const sha256 = typeof f.coreMetadata === 'object' ? f.coreMetadata.sha256 : undefined
    await engine.serveImmutable(request, reply, repo, { path, url: `${f.url}${METADATA_SUFFIX}`, contentType: 'text/plain; charset=utf-8', expected: { sha256 } })
    return true
  }
  await engine.serveImmutable(request, reply, repo, {
    path,
    url: f.url,
    contentType: 'application/octet-stream',
    expected: { sha256: f.hashes.sha256, md5: f.hashes.md5 },
  })
  return true
}
