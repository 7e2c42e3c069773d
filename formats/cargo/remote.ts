import type { FastifyReply, FastifyRequest } from 'fastify'
import { ArtifactNotFoundError, NotFoundError, type Repository } from '../../store/index.ts'
import { cacheHeaders, remoteEngine, REMOTE_METADATA_DIR, type FormatContext } from '../core/index.ts'
import { CRATE_CONTENT_TYPE, INDEX_CONTENT_TYPE } from './constants.ts'
import { cratePath } from './crate-store.ts'
import { sendGenerated } from './index-file.ts'
import { indexPath } from './names.ts'

/*
 * Cargo remote repositories: a proxy of an upstream sparse registry (RFC 2789; crates.io's is
 * https://index.crates.io, another node's is {node}/cargo/{repo}/index). settings.upstream.url
 * is the sparse index root, the URL cargo would be given after `sparse+`.
 * https://doc.rust-lang.org/cargo/reference/registry-index.html#sparse-protocol
 *
 * - index/config.json is this node's own (dl and api point here; auth-required follows this
 *   repository), so cargo fetches everything through the node. The upstream's config.json is
 *   kept as mutable metadata at .remote/index/config.json: its `dl` says where .crate files are.
 * - index files (index/{prefix}/{name}) are mutable: TTL, revalidation, stale-if-error, kept at
 *   .remote/index/{path}. A dependency whose `registry` is the upstream index is rewritten to
 *   this repository's index (an empty registry already means "this registry").
 * - .crate downloads are immutable, verified against the index line's sha256 `cksum`, and
 *   stored at crates/{name}/{name}-{version}.crate like published crates (without the `cargo`
 *   properties, so they never show up as published versions of a local repository).
 */

const INDEX_DIR = `${REMOTE_METADATA_DIR}/index`

interface IndexLine {
  name: string
  vers: string
  cksum: string
  deps?: { registry?: string | null }[]
  [key: string]: unknown
}

/** Parses an index file: one JSON object per line; throws when a line is not an index entry. */
export function parseIndexLines(body: string): IndexLine[] {
  const out: IndexLine[] = []
  for (const [i, line] of body.split('\n').entries()) {
    if (line.trim() === '') continue
    const entry = JSON.parse(line) as IndexLine
    if (typeof entry !== 'object' || entry === null || typeof entry.name !== 'string' || typeof entry.vers !== 'string') {
      throw new Error(`line ${i + 1} is not an index entry`)
    }
    out.push(entry)
  }
  return out
}

/** The index URLs a dependency's `registry` may name the upstream by. */
function upstreamIndexSpellings(upstreamUrl: string): Set<string> {
  const bare = upstreamUrl.replace(/\/+$/, '')
  return new Set([bare, `${bare}/`, `sparse+${bare}`, `sparse+${bare}/`])
}

/** Index file text with dependencies on the upstream registry pointed at `ourIndex` instead. */
export function rewriteIndexFile(body: string, upstreamUrl: string, ourIndex: string): string {
  const bare = upstreamUrl.replace(/\/+$/, '')
  if (!body.includes(bare)) return body
  const spellings = upstreamIndexSpellings(upstreamUrl)
  return parseIndexLines(body)
    .map((entry) => {
      for (const dep of entry.deps ?? []) if (typeof dep.registry === 'string' && spellings.has(dep.registry)) dep.registry = ourIndex
      return `${JSON.stringify(entry)}\n`
    })
    .join('')
}

/** The download URL of a crate from the upstream config's `dl` (its markers, or /{crate}/{version}/download appended). */
export function downloadUrl(dl: string, name: string, version: string, cksum: string): string {
  // {prefix} keeps the name's case (cargo's make_dep_prefix); {lowerprefix} is its lower-case form.
  const n = name
  const prefix = n.length <= 2 ? String(n.length) : n.length === 3 ? `3/${n[0]}` : `${n.slice(0, 2)}/${n.slice(2, 4)}`
  const markers = /\{(crate|version|prefix|lowerprefix|sha256-checksum)\}/
  if (!markers.test(dl)) return `${dl.replace(/\/+$/, '')}/${encodeURIComponent(name)}/${encodeURIComponent(version)}/download`
  return dl
    .replaceAll('{crate}', encodeURIComponent(name))
    .replaceAll('{version}', encodeURIComponent(version))
    .replaceAll('{prefix}', prefix)
    .replaceAll('{lowerprefix}', prefix.toLowerCase())
    .replaceAll('{sha256-checksum}', cksum)
}

function indexUrl(ctx: FormatContext, repo: Repository, path: string): string {
  return remoteEngine(ctx).upstreamUrl(repo, path)
}

async function fetchIndexFile(ctx: FormatContext, repo: Repository, path: string) {
  return remoteEngine(ctx).fetchMutable(repo, {
    path: `${INDEX_DIR}/${path}`,
    url: indexUrl(ctx, repo, path),
    validate: (body) => void parseIndexLines(body.toString('utf8')),
  })
}

/** The `dl` of the upstream's config.json (mutable metadata). */
async function upstreamDl(ctx: FormatContext, repo: Repository): Promise<string> {
  const doc = await remoteEngine(ctx).fetchMutable(repo, {
    path: `${INDEX_DIR}/config.json`,
    url: indexUrl(ctx, repo, 'config.json'),
    accept: 'application/json',
    validate: (body) => {
      const c = JSON.parse(body.toString('utf8')) as { dl?: unknown }
      if (typeof c.dl !== 'string' || c.dl === '') throw new Error('config.json has no dl')
    },
  })
  const dl = (JSON.parse((await doc.body()).toString('utf8')) as { dl: string }).dl
  // A relative dl is relative to the index root.
  return new URL(dl, `${remoteEngine(ctx).upstream(repo).url}/`).toString()
}

/** GET index/{path} of a remote repository: the upstream's index file (cached, revalidated). */
export async function serveRemoteIndexFile(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  repo: Repository,
  path: string,
  base: string,
): Promise<FastifyReply> {
  const doc = await fetchIndexFile(ctx, repo, path)
  cacheHeaders(reply, doc.cache)
  const text = rewriteIndexFile((await doc.body()).toString('utf8'), remoteEngine(ctx).upstream(repo).url, `sparse+${base}/index/`)
  return sendGenerated(request, reply, text, INDEX_CONTENT_TYPE, doc.artifact.updatedAt)
}

/** GET api/v1/crates/{name}/{version}/download of a remote repository: the cached .crate, else the upstream's. */
export async function serveRemoteCrate(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  repo: Repository,
  name: string,
  version: string,
): Promise<FastifyReply> {
  const engine = remoteEngine(ctx)
  const path = cratePath(name, version)
  const stored = ctx.artifacts.get(repo.key, path)
  if (stored && typeof stored.properties.upstreamUrl === 'string') {
    return engine.serveImmutable(request, reply, repo, { path, url: stored.properties.upstreamUrl, contentType: CRATE_CONTENT_TYPE })
  }
  let lines: IndexLine[]
  try {
    lines = parseIndexLines((await (await fetchIndexFile(ctx, repo, indexPath(name))).body()).toString('utf8'))
  } catch (err) {
    if (err instanceof NotFoundError) throw new ArtifactNotFoundError(`crate \`${name}\` does not exist upstream of repository '${repo.key}'`)
    throw err
  }
  const line = lines.find((l) => l.vers === version && l.name.toLowerCase() === name.toLowerCase())
  if (!line) throw new ArtifactNotFoundError(`crate \`${name}\` ${version} does not exist upstream of repository '${repo.key}'`)
  const cksum = typeof line.cksum === 'string' && /^[a-f0-9]{64}$/i.test(line.cksum) ? line.cksum.toLowerCase() : undefined
  const url = downloadUrl(await upstreamDl(ctx, repo), line.name, line.vers, cksum ?? '')
  return engine.serveImmutable(request, reply, repo, {
    path,
    url,
    contentType: CRATE_CONTENT_TYPE,
    ...(cksum ? { expected: { sha256: cksum } } : {}),
  })
}
