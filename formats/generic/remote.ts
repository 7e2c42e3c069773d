import type { FastifyReply, FastifyRequest } from 'fastify'
import { cacheHeaders, remoteEngine, sendBlob, servesActiveContent, type FormatContext } from '../core/index.ts'
import { ArtifactNotFoundError, globsMatcher, type Repository } from '../../store/index.ts'

/** Whether a generic remote path is mutable (revalidated by TTL) rather than cached for good. */
export function isMutableGenericPath(repo: Repository, path: string): boolean {
  const patterns = Array.isArray(repo.settings.mutablePaths) ? (repo.settings.mutablePaths as string[]) : []
  // The node's one glob dialect (store/glob.ts), as replication filters use it.
  return globsMatcher(patterns)(path)
}

/**
 * GET/HEAD of a file in a generic remote repository: `{upstream}/{path}`. Immutable unless
 * settings.mutablePaths names it; mutable files are revalidated after their TTL and served stale
 * when the upstream fails.
 */
export async function serveGenericRemote(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  repo: Repository,
  path: string,
): Promise<FastifyReply> {
  const engine = remoteEngine(ctx)
  const url = engine.upstreamUrl(repo, path.split('/').map(encodeURIComponent).join('/'))
  if (!isMutableGenericPath(repo, path)) {
    await engine.serveImmutable(request, reply, repo, { path, url })
    return reply
  }
  const doc = await engine.fetchMutable(repo, { path, url })
  cacheHeaders(reply, doc.cache)
  if (!doc.blob) throw new ArtifactNotFoundError(`'${path}' not found in repository '${repo.key}'`)
  return sendBlob(request, reply, ctx.blobs, {
    blob: doc.blob,
    contentType: doc.contentType ?? 'application/octet-stream',
    lastModified: doc.artifact.updatedAt,
    serveActiveContent: servesActiveContent(repo),
  })
}
