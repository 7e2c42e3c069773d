import type { FastifyReply, FastifyRequest } from 'fastify'
import { CACHE_STATUS_HEADER, readOrder, sendBlob, servesActiveContent, type FormatContext } from '../core/index.ts'
import { ArtifactNotFoundError, NotFoundError, type Artifact, type Repository } from '../../store/index.ts'
import { serveGenericRemote } from './remote.ts'

/*
 * GET/HEAD of the generic format. A local repository serves what it stores, a remote one its
 * upstream (cached), and a virtual one reads through its members in configured order, as every
 * other format does: the first member that holds the path serves the file (a remote member asks
 * its upstream, whose 404 passes on to the next member), and a directory lists the union of the
 * members' entries (a file named in several members is the first member's). Members the caller
 * may not read are not consulted (readOrder). A remote member that fails is skipped while another
 * member answers; when none does, its error is what the client sees (502, not 404).
 */

/** One file of a directory listing. */
interface ListedFile {
  name: string
  type: 'file'
  size: number
  sha256: string
  contentType: string | null
  created: string
  updated: string
}

const listedFile = (a: Artifact): ListedFile => ({
  name: a.path.slice(a.path.lastIndexOf('/') + 1),
  type: 'file',
  size: a.size,
  sha256: a.sha256,
  contentType: a.contentType,
  created: new Date(a.createdAt).toISOString(),
  updated: new Date(a.updatedAt).toISOString(),
})

/** The JSON listing of `dir` in `repo`: its members' entries merged, the first member winning a name. */
function listing(ctx: FormatContext, repo: Repository, members: readonly Repository[], dir: string) {
  const dirs = new Set<string>()
  const files = new Map<string, ListedFile>()
  for (const m of members) {
    const l = ctx.artifacts.list(m.key, dir)
    for (const d of l.dirs) dirs.add(d)
    for (const a of l.files) {
      const f = listedFile(a)
      if (!files.has(f.name)) files.set(f.name, f)
    }
  }
  // One member's entries come sorted from the store; merged ones are sorted again.
  const sortedDirs = members.length > 1 ? [...dirs].sort() : [...dirs]
  const sortedFiles = members.length > 1 ? [...files.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) : [...files.values()]
  return {
    repo: repo.key,
    path: dir === '' ? '/' : `/${dir}/`,
    children: [...sortedDirs.map((name) => ({ name, type: 'dir' as const })), ...sortedFiles],
  }
}

/** Not held by this member: the next one may have it. */
const notHere = (err: unknown) => err instanceof NotFoundError || err instanceof ArtifactNotFoundError

/** Drops the cache headers a failed remote member set before the next member answers. */
const forget = (reply: FastifyReply) => reply.removeHeader(CACHE_STATUS_HEADER).removeHeader('warning')

/** GET/HEAD /generic/{repo}/{path}: a file, or a directory listing; read permission on `repo` is checked here. */
export async function serveGeneric(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  repo: Repository,
  path: string,
  directory: boolean,
): Promise<FastifyReply> {
  ctx.authorize(request, repo, 'read')
  if (repo.type === 'remote' && !directory && path !== '') return serveGenericRemote(ctx, request, reply, repo, path)
  const members = readOrder(ctx, request, repo)
  let failure: unknown
  if (!directory && path !== '') {
    for (const m of members) {
      if (m.type === 'remote') {
        try {
          return await serveGenericRemote(ctx, request, reply, m, path)
        } catch (err) {
          if (reply.sent) throw err
          forget(reply)
          if (!notHere(err)) failure ??= err
          continue
        }
      }
      const artifact = ctx.artifacts.get(m.key, path)
      if (!artifact) continue
      const blob = ctx.blobIndex.get(artifact.sha256)
      if (!blob) throw new ArtifactNotFoundError(`the bytes of '${path}' are not on this node`)
      return sendBlob(request, reply, ctx.blobs, {
        blob,
        contentType: artifact.contentType ?? 'application/octet-stream',
        lastModified: artifact.updatedAt,
        // The holder's choice, as for a remote member (core/remote/engine.ts).
        serveActiveContent: servesActiveContent(m),
      })
    }
  }
  if (path === '' || members.some((m) => ctx.artifacts.hasTree(m.key, path))) {
    return reply.header('cache-control', 'no-cache').send(listing(ctx, repo, members, path))
  }
  if (failure) throw failure
  throw new ArtifactNotFoundError(`'${path}${directory ? '/' : ''}' not found in repository '${repo.key}'`)
}
