import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { deployTarget, findRepository, readOrder, sendBlob, streamRawBodies } from '../core/index.ts'
import {
  ArtifactNotFoundError,
  FormatMismatchError,
  InvalidPathError,
  MethodNotAllowedError,
  NotFoundError,
  validateRepositoryKey,
  type Artifact,
  type Repository,
} from '../../store/index.ts'
import { CONTENT_TYPE, GO_FORMAT } from './constants.ts'
import { goErrorHandler } from './errors.ts'
import { findVersion, listVersionZips, modPath, zipPath, type StoredVersion } from './module-store.ts'
import { sendGenerated } from './conditional.ts'
import { parseProxyPath, type ProxyRequest } from './proxy-path.ts'
import { uploadModuleVersion } from './upload.ts'
import { serveGoRemote } from './remote.ts'
import { compareVersions, isPseudoVersion, latestVersion } from './version.ts'

export { GO_FORMAT, MAX_ZIP_BYTES, MAX_GO_MOD_BYTES, MAX_LICENSE_BYTES, MAX_ZIP_ENTRIES } from './constants.ts'
export { GO_STATUS, goWireError } from './errors.ts'
export { checkModulePath, checkFilePath, escapeCase, unescapeCase, splitPathVersion } from './module-path.ts'
export { parseVersion, compareVersions, isPseudoVersion, checkModuleVersion, latestVersion } from './version.ts'
export { declaredModulePath, synthesizedGoMod } from './go-mod.ts'
export { checkModuleZip, hash1, goModHash1, type ModuleZipSummary, type ModuleZipLimits } from './module-zip.ts'
export { parseProxyPath, type ProxyRequest } from './proxy-path.ts'
export { goPathProblem, goReplicationHooks } from './replication.ts'

/** The repository and GOPROXY request a URL names (parsed from the raw URL below `prefix`). */
function resolveRequest(ctx: FormatContext, prefix: string, request: FastifyRequest, upload: boolean): { repo: Repository; req: ProxyRequest } {
  const { repo, rest } = resolveRepository(ctx, prefix, request)
  return { repo, req: parseProxyPath(rest, { upload }) }
}

/** The repository a URL names and the raw rest of the URL after `/{repo}/`. */
function resolveRepository(ctx: FormatContext, prefix: string, request: FastifyRequest): { repo: Repository; rest: string } {
  const rest = request.url.slice(prefix.length + 1)
  const slash = rest.indexOf('/')
  const rawKey = slash < 0 ? (rest.split('?')[0] ?? '') : rest.slice(0, slash)
  let key: string
  try {
    key = validateRepositoryKey(decodeURIComponent(rawKey))
  } catch {
    throw new InvalidPathError(`invalid repository key in '${request.url}'`)
  }
  const repo = findRepository(ctx, request, key, GO_FORMAT, {
    missing: () => new NotFoundError(`not found: repository '${key}' does not exist`),
    mismatch: (r) => new FormatMismatchError(`not found: repository '${key}' is a ${r.format} repository`),
  })
  if (slash < 0) throw new NotFoundError(`not found: name a module below /go/${key}/`)
  return { repo, rest: rest.slice(slash + 1) }
}

/** PUT of a module zip, wherever it is mounted: authorises write on the deploy target and stores it. */
async function upload(ctx: FormatContext, target: { repo: Repository; req: ProxyRequest }, request: FastifyRequest, reply: FastifyReply) {
  const { repo, req } = target
  if (req.kind !== 'zip') throw new MethodNotAllowedError('upload a module version with PUT …/{module}/@v/{version}.zip')
  const into = deployTarget(ctx, repo)
  ctx.authorize(request, into, 'write')
  const result = await uploadModuleVersion(ctx, request, into, req.module, req.version)
  return reply.code(result.created ? 201 : 200).send(result.body)
}

/**
 * The management API's upload of a module version, PUT /api/v1/go/{repo}/{module}/@v/{version}.zip
 * (node/ mounts it under /api/v1/go): the same body and checks as the PUT beside the GOPROXY
 * files, with errors in the API's JSON form instead of the go command's plain text.
 */
export function goUploadApi(ctx: FormatContext) {
  return async function goUploadApiPlugin(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)
    app.put('/:repo/*', (request, reply) => upload(ctx, resolveRequest(ctx, app.prefix, request, true), request, reply))
  }
}

/**
 * The Go format: a GOPROXY (Go module reference, "GOPROXY protocol") at /go/{repo}/, serving
 * what was uploaded:
 *   GET {module}/@v/list            versions, one per line (pseudo-versions left out)
 *   GET {module}/@v/{version}.info  {"Version","Time"}
 *   GET {module}/@v/{version}.mod   the version's go.mod
 *   GET {module}/@v/{version}.zip   the module zip
 *   GET {module}/@latest            .info of the version the go command would pick
 *   PUT {module}/@v/{version}.zip   upload a module version (body: the module zip)
 *   DELETE {module}/@v/{version}.zip  remove a version (delete permission)
 * Module paths and versions in URLs are case-encoded. Errors are plain text, 404 for anything
 * not stored (the go command's "not found").
 */
export function goFormat(ctx: FormatContext) {
  return async function goPlugin(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)
    app.setErrorHandler(goErrorHandler)

    const resolve = (request: FastifyRequest, upload = false) => resolveRequest(ctx, app.prefix, request, upload)

    const notFound = (module: string, version?: string) =>
      new ArtifactNotFoundError(
        version === undefined ? `not found: module ${module}: no versions stored` : `not found: ${module}@${version}: unknown revision ${version}`,
      )

    /** .info (and @latest): validated by the version's zip row, or `lastModified` when the answer depends on more rows. */
    const sendInfo = (request: FastifyRequest, reply: FastifyReply, v: StoredVersion, lastModified = v.zip.updatedAt) =>
      sendGenerated(request, reply, JSON.stringify({ Version: v.version, Time: v.time }), CONTENT_TYPE.info, lastModified)
    /** When the newest of a module's version rows changed. */
    const newest = (zips: Map<string, Artifact>) => [...zips.values()].reduce((t, a) => Math.max(t, a.updatedAt), 0)

    const get = async (request: FastifyRequest, reply: FastifyReply) => {
      const { repo, rest } = resolveRepository(ctx, app.prefix, request)
      if (repo.type === 'remote') {
        ctx.authorize(request, repo, 'read')
        return serveGoRemote(ctx, request, reply, repo, rest)
      }
      const req = parseProxyPath(rest)
      ctx.authorize(request, repo, 'read')
      const repos = readOrder(ctx, request, repo)
      if (req.kind === 'list') {
        const versions = listVersionZips(ctx.artifacts, repos, req.module)
        if (versions.size === 0) throw notFound(req.module)
        const listed = [...versions.keys()].filter((v) => !isPseudoVersion(v)).sort(compareVersions)
        return sendGenerated(request, reply, listed.map((v) => `${v}\n`).join(''), CONTENT_TYPE.list, newest(versions))
      }
      if (req.kind === 'latest') {
        const versions = listVersionZips(ctx.artifacts, repos, req.module)
        const latest = latestVersion(versions.keys())
        const found = latest === undefined ? undefined : findVersion(ctx.artifacts, repos, req.module, latest)
        if (!found) throw notFound(req.module)
        return sendInfo(request, reply, found, newest(versions))
      }
      const found = findVersion(ctx.artifacts, repos, req.module, req.version)
      if (!found) throw notFound(req.module, req.version)
      if (req.kind === 'info') return sendInfo(request, reply, found)
      const artifact = req.kind === 'zip' ? found.zip : ctx.artifacts.get(found.repo.key, modPath(req.module, req.version))
      const blob = artifact ? ctx.blobIndex.get(artifact.sha256) : undefined
      if (!artifact || !blob) throw new ArtifactNotFoundError(`not found: the ${req.kind} of ${req.module}@${req.version} is not on this node`)
      return sendBlob(request, reply, ctx.blobs, {
        blob,
        contentType: req.kind === 'zip' ? CONTENT_TYPE.zip : CONTENT_TYPE.mod,
        lastModified: artifact.createdAt,
      })
    }

    app.route({ method: ['GET', 'HEAD'], url: '/:repo/*', handler: get })
    app.route({ method: ['GET', 'HEAD'], url: '/:repo', handler: get })

    app.put('/:repo/*', (request, reply) => upload(ctx, resolve(request, true), request, reply))

    app.delete('/:repo/*', async (request, reply) => {
      const { repo, req } = resolve(request)
      if (req.kind !== 'zip') throw new MethodNotAllowedError('delete a module version with DELETE /go/{repo}/{module}/@v/{version}.zip')
      const target = deployTarget(ctx, repo)
      ctx.authorize(request, target, 'delete')
      const by = ctx.userName(request)
      const removed = ctx.artifacts.transaction(() => {
        const zip = ctx.artifacts.delete(target.key, zipPath(req.module, req.version), by)
        const mod = ctx.artifacts.delete(target.key, modPath(req.module, req.version), by)
        return zip || mod
      })
      if (!removed) throw notFound(req.module, req.version)
      return reply.code(204).send()
    })
  }
}
