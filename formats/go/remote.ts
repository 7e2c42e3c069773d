import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidPathError, NotFoundError, type Repository } from '../../store/index.ts'
import { cacheHeaders, remoteEngine, REMOTE_METADATA_DIR, sendBlob, type FormatContext } from '../core/index.ts'
import { CONTENT_TYPE } from './constants.ts'
import { checkModulePath, escapeCase, unescapeCase } from './module-path.ts'
import { modPath, versionDir, zipPath } from './module-store.ts'
import { parseProxyPath, type ProxyRequest } from './proxy-path.ts'

/*
 * Go remote repositories: a proxy of an upstream GOPROXY (proxy.golang.org, another node's
 * /go/{repo}, Athens…), following the GOPROXY protocol of the Go module reference
 * (https://go.dev/ref/mod#goproxy-protocol). settings.upstream.url is the GOPROXY base URL.
 *
 * - {module}/@v/list and {module}/@latest are mutable (new versions appear): TTL, revalidation,
 *   stale-if-error, kept at .remote/{module}/@v/list and .remote/{module}/@latest.
 * - {module}/@v/{query}.info for a query that is no canonical version (a branch, a commit
 *   prefix, `latest`…) is mutable too, at .remote/{module}/@v/{query}.info.
 * - {version}.info, .mod and .zip of a canonical version are immutable: a module version never
 *   changes (go.sum and the checksum database hold clients to that). They are kept at
 *   {module}/@v/{version}.{ext} beside where uploads live (module paths decoded).
 * Nothing carries URLs, so nothing is rewritten.
 */

type RemoteRequest = ProxyRequest | { kind: 'query'; module: string; version: string }

function decodeSegment(s: string, raw: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw new InvalidPathError(`malformed percent-encoding in '${raw}'`)
  }
}

/** Parses a GOPROXY request below /go/{repo}/, also accepting version queries of .info. */
export function parseRemoteProxyPath(rawRest: string): RemoteRequest {
  try {
    return parseProxyPath(rawRest)
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err
    const q = rawRest.indexOf('?')
    const raw = q >= 0 ? rawRest.slice(0, q) : rawRest
    const m = /^(.+)\/@v\/([^/]+)\.info$/.exec(raw)
    if (!m) throw err
    const module = unescapeCase(m[1]!.split('/').map((s) => decodeSegment(s, raw)).join('/'))
    const version = unescapeCase(decodeSegment(m[2]!, raw))
    if (module === undefined || version === undefined || checkModulePath(module) !== undefined) throw err
    if (version === '' || version.startsWith('.') || /[\s\\]/.test(version)) throw err
    return { kind: 'query', module, version }
  }
}

interface Classified {
  path: string
  relative: string
  contentType: string
  mutable: boolean
}

function classify(req: RemoteRequest): Classified {
  const m = escapeCase(req.module)
  switch (req.kind) {
    case 'list':
      return { path: `${REMOTE_METADATA_DIR}/${versionDir(req.module)}/list`, relative: `${m}/@v/list`, contentType: CONTENT_TYPE.list, mutable: true }
    case 'latest':
      return { path: `${REMOTE_METADATA_DIR}/${req.module}/@latest`, relative: `${m}/@latest`, contentType: CONTENT_TYPE.info, mutable: true }
    case 'query':
      return {
        path: `${REMOTE_METADATA_DIR}/${versionDir(req.module)}/${req.version}.info`,
        relative: `${m}/@v/${encodeURIComponent(escapeCase(req.version))}.info`,
        contentType: CONTENT_TYPE.info,
        mutable: true,
      }
    case 'info':
      return { path: `${versionDir(req.module)}/${req.version}.info`, relative: `${m}/@v/${escapeCase(req.version)}.info`, contentType: CONTENT_TYPE.info, mutable: false }
    case 'mod':
      return { path: modPath(req.module, req.version), relative: `${m}/@v/${escapeCase(req.version)}.mod`, contentType: CONTENT_TYPE.mod, mutable: false }
    case 'zip':
      return { path: zipPath(req.module, req.version), relative: `${m}/@v/${escapeCase(req.version)}.zip`, contentType: CONTENT_TYPE.zip, mutable: false }
  }
}

/** Refuses a .info or @latest body that is not the JSON object the go command reads. */
function validateInfo(body: Buffer): void {
  const info = JSON.parse(body.toString('utf8')) as { Version?: unknown }
  if (typeof info !== 'object' || info === null || typeof info.Version !== 'string') throw new Error('no Version in the .info')
}

/** Refuses a version list that is not text (one version per line). */
function validateList(body: Buffer): void {
  if (body.includes(0)) throw new Error('the version list is not text')
}

/** GET/HEAD of a GOPROXY path (raw, below /go/{repo}/) of a remote repository. */
export async function serveGoRemote(ctx: FormatContext, request: FastifyRequest, reply: FastifyReply, repo: Repository, rawRest: string): Promise<FastifyReply> {
  const req = parseRemoteProxyPath(rawRest)
  const { path, relative, contentType, mutable } = classify(req)
  const engine = remoteEngine(ctx)
  const url = engine.upstreamUrl(repo, relative)
  if (!mutable) return engine.serveImmutable(request, reply, repo, { path, url, contentType })
  const doc = await engine.fetchMutable(repo, {
    path,
    url,
    validate: req.kind === 'list' ? validateList : validateInfo,
  })
  cacheHeaders(reply, doc.cache)
  reply.header('cache-control', 'no-cache')
  return sendBlob(request, reply, ctx.blobs, { blob: doc.blob, contentType, lastModified: doc.artifact.updatedAt })
}
