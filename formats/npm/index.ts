import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { findRepository, requireSignedInOrPublic, streamRawBodies } from '../core/index.ts'
import { MethodNotAllowedError } from '../../store/index.ts'
import { NPM_FORMAT } from './constants.ts'
import { createNpmIndex } from './npm-index.ts'
import { putPackage } from './publish.ts'
import { getDistTags, getPackument, getTarball, getVersion, search, type NpmDeps } from './read.ts'
import { parseNpmUrl } from './request-target.ts'
import { deleteDistTag, deletePackage, deleteTarball, putDistTag } from './update.ts'
import { deleteToken, getUser, putUser, whoami } from './user.ts'
import { npmErrorHandler } from './wire-errors.ts'

export { NPM_FORMAT } from './constants.ts'
export { NPM_STATUS, toNpmWireError } from './wire-errors.ts'
export { packageNameProblem, isValidPackageName, validatePackageName, tarballPath, type NameUse } from './names.ts'
export { PublishBodyScanner, Base64Decoder } from './publish-body.ts'
export { readTarballManifest } from './tarball-manifest.ts'
export { parsePackument, rewriteTarballUrls, findTarball, packumentSource } from './remote-packument.ts'
export { npmReplicationHooks, npmPathProblem, npmPointerProblem, distTagPointer, deprecationPointer } from './replication.ts'

function notAllowed(request: FastifyRequest): never {
  throw new MethodNotAllowedError(`${request.method} is not supported here`)
}

/**
 * The npm registry protocol at /npm/{repo}/ (npm registry API, as the npm CLI speaks it):
 * packuments (full and abbreviated), tarballs, publish (streamed), dist-tags, deprecate,
 * unpublish, login/whoami/logout and search. Packuments are generated from the npm index
 * tables, written in the same transaction as the tarball artifacts.
 */
export function npmFormat(ctx: FormatContext) {
  return async function npmPlugin(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)
    app.setErrorHandler(npmErrorHandler)
    const deps: NpmDeps = { ctx, index: createNpmIndex(ctx.db) }

    const handle = async (request: FastifyRequest, reply: FastifyReply) => {
      // Parse the raw URL: package names arrive percent-encoded (@scope%2fname).
      const { repoKey, target, query } = parseNpmUrl(request.url.slice(app.prefix.length))
      const m = request.method
      const read = m === 'GET' || m === 'HEAD'
      // Login, whoami and logout are node-wide: they answer alike under any repository key, so
      // they tell no one which repositories exist.
      switch (target.kind) {
        case 'whoami':
          return read ? whoami(deps, request, reply) : notAllowed(request)
        case 'user':
          if (m === 'PUT') return putUser(deps, request, reply, target.user)
          return read ? getUser(deps, request, reply, target.user) : notAllowed(request)
        case 'token':
          return m === 'DELETE' ? deleteToken(deps, request, reply) : notAllowed(request)
        case 'ping':
          // `npm ping` checks the registry answers and the credentials: any signed-in caller,
          // whatever the key; anonymous ones only on a public repository.
          requireSignedInOrPublic(ctx, request, repoKey, NPM_FORMAT)
          return read ? reply.send({}) : notAllowed(request)
      }
      // Everything else needs read on the repository, checked before anything else is said about it.
      const repo = findRepository(ctx, request, repoKey, NPM_FORMAT)
      switch (target.kind) {
        case 'search':
          return read ? search(deps, request, reply, repo, query) : notAllowed(request)
        case 'dist-tags':
          if (target.tag === undefined) return read ? getDistTags(deps, request, reply, repo, target.name) : notAllowed(request)
          if (m === 'PUT' || m === 'POST') return putDistTag(deps, request, reply, repo, target.name, target.tag)
          if (m === 'DELETE') return deleteDistTag(deps, request, reply, repo, target.name, target.tag)
          return notAllowed(request)
        case 'package':
          if (read && target.rev === undefined) return getPackument(deps, request, reply, repo, target.name, query)
          if (m === 'PUT') return putPackage(deps, request, reply, repo, target.name, target.rev)
          if (m === 'DELETE') return deletePackage(deps, request, reply, repo, target.name)
          return notAllowed(request)
        case 'tarball':
          if (read && target.rev === undefined) return getTarball(deps, request, reply, repo, target.name, target.file)
          if (m === 'DELETE') return deleteTarball(deps, request, reply, repo, target.name, target.file)
          return notAllowed(request)
        case 'version':
          return read ? getVersion(deps, request, reply, repo, target.name, target.spec) : notAllowed(request)
      }
    }

    app.route({ method: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'], url: '/*', handler: handle })
  }
}
