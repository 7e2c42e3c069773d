import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { contentLength, deployTarget, expectedDigests, resolveRepository, streamRawBodies } from '../core/index.ts'
import { serveGeneric } from './read.ts'

export { isMutableGenericPath } from './remote.ts'
import {
  ArtifactNotFoundError,
  ClientAbortedError,
  InvalidInputError,
  NotFoundError,
  parseRawPath,
  type Artifact,
  type Repository,
} from '../../store/index.ts'

export const GENERIC_FORMAT = 'generic'

/**
 * The generic format: any file at any path, /generic/{repo}/{path}. PUT streams the body
 * into the store (verified against X-Checksum-* headers), GET/HEAD serve it with ranges and
 * conditional requests, DELETE removes a file or a whole directory, and a path ending in '/'
 * (or naming a directory) lists it as JSON. A virtual repository reads through its members
 * (read.ts) and sends PUT and DELETE to its defaultDeployRepo, as every format does.
 */
export function genericFormat(ctx: FormatContext) {
  return async function genericPlugin(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)

    const resolve = (request: FastifyRequest, allowEmpty: boolean) => {
      const { repo, rest } = resolveRepository(ctx, request, app.prefix, GENERIC_FORMAT)
      const { path, directory } = parseRawPath(rest, allowEmpty)
      return { repo, path, directory }
    }

    const describe = (a: Artifact, { sha1, md5, sha512 }: { sha1: string; md5: string; sha512: string }) => ({
      repo: a.repo,
      path: a.path,
      size: a.size,
      contentType: a.contentType,
      checksums: { sha256: a.sha256, sha1, md5, sha512 },
      created: new Date(a.createdAt).toISOString(),
      updated: new Date(a.updatedAt).toISOString(),
    })

    const get = async (request: FastifyRequest, reply: FastifyReply) => {
      const { repo, path, directory } = resolve(request, true)
      return serveGeneric(ctx, request, reply, repo, path, directory)
    }

    app.route({ method: ['GET', 'HEAD'], url: '/:repo/*', handler: get })
    app.route({ method: ['GET', 'HEAD'], url: '/:repo', handler: get })

    /**
     * Where a write (`write` or `delete`) through `repo` lands, with permission checked there: the
     * repository itself, or a virtual repository's defaultDeployRepo (read needed on the virtual one).
     */
    const writable = (request: FastifyRequest, repo: Repository, action: 'write' | 'delete'): Repository => {
      if (repo.type !== 'virtual') {
        ctx.authorize(request, repo, action)
        return repo
      }
      ctx.authorize(request, repo, 'read')
      const target = deployTarget(ctx, repo)
      ctx.authorize(request, target, action)
      return target
    }

    app.put('/:repo/*', async (request, reply) => {
      const { repo: addressed, path, directory } = resolve(request, false)
      if (directory) throw new NotFoundError('cannot PUT a directory; name a file')
      const repo = writable(request, addressed, 'write')
      if (repo.type === 'remote') throw new InvalidInputError(`cannot upload to remote repository '${repo.key}'; it mirrors its upstream`)
      const limit = Math.min(ctx.maxUploadBytes, repo.settings.maxUploadBytes ?? Infinity)
      const existing = ctx.artifacts.get(repo.key, path)
      let blob
      try {
        // Inside the try: a body refused by its headers (too large, bad checksum) is a failed upload too.
        const expectedSize = contentLength(request, limit)
        const expected = expectedDigests(request)
        blob = await ctx.blobs.ingest(request.raw, {
          maxBytes: limit,
          expectedSize,
          expected,
          ...ctx.clientBody,
        })
        // Bytes beyond the announced Content-Length parse as a malformed next request: the node
        // answers it with 400 and ends the connection before this handler resumes. The body read
        // here is then a truncated prefix of what the client sent; never commit it.
        const socket = request.raw.socket as { destroyed?: boolean; writableEnded?: boolean } | undefined
        if (socket?.destroyed || socket?.writableEnded) {
          throw new ClientAbortedError('the connection closed before the upload was committed')
        }
      } catch (err) {
        ctx.uploadFailed(GENERIC_FORMAT, (err as { code?: string }).code ?? 'error')
        throw err
      }
      // Replacing a file with other bytes is a delete and a write (as in Artifactory); the same
      // bytes again (a retried upload) is only a write, which is why this waits for the digest.
      if (existing && existing.sha256 !== blob.sha256 && !repo.settings.immutable) ctx.authorize(request, repo, 'delete')
      const contentType = request.headers['content-type']
      const result = ctx.artifacts.put({
        repo: repo.key,
        path,
        blob,
        contentType: typeof contentType === 'string' && contentType !== '' ? contentType : 'application/octet-stream',
        createdBy: ctx.userName(request),
        overwrite: !repo.settings.immutable,
      })
      return reply
        .code(result.created ? 201 : 200)
        .header('location', `${ctx.baseUrl(request)}/generic/${repo.key}/${path.split('/').map(encodeURIComponent).join('/')}`)
        .send(describe(result.artifact, blob))
    })

    app.delete('/:repo/*', async (request, reply) => {
      const { repo: addressed, path } = resolve(request, false)
      const repo = writable(request, addressed, 'delete')
      if (ctx.artifacts.delete(repo.key, path, ctx.userName(request))) return reply.code(204).send()
      const removed = ctx.artifacts.deleteTree(repo.key, path, ctx.userName(request))
      if (removed === 0) throw new ArtifactNotFoundError(`'${path}' not found in repository '${repo.key}'`)
      return reply.code(200).send({ deleted: removed })
    })
  }
}
