import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { deferContinue, deployTarget, streamRawBodies } from '../core/index.ts'
import { ArtifactNotFoundError, parseRawPath } from '../../store/index.ts'
import { deploy } from './deploy.ts'
import { mavenErrorHandler } from './errors.ts'
import { serve } from './read.ts'
import { resolveMavenRepository } from './repository.ts'

export { MAVEN_FORMAT, MAX_POM_BYTES, MAX_CLIENT_METADATA_BYTES, MAX_CHECKSUM_BODY_BYTES, CHECKSUM_ALGORITHMS } from './constants.ts'
export type { ChecksumAlgorithm } from './constants.ts'
export { MAVEN_HTTP_STATUS, toMavenError } from './errors.ts'
export { parseMavenPath, parseFileName, artifactDir, filePath, isSnapshotVersion } from './layout.ts'
export type { MavenPath, MavenTarget, FileCoordinates, SnapshotBuild } from './layout.ts'
export { compareVersions } from './version-order.ts'
export { artifactMetadata, versionMetadata, renderArtifactMetadata, renderVersionMetadata, formatTimestamp } from './metadata.ts'
export type { ArtifactMetadata, VersionMetadata, VersionEntry, SnapshotFileEntry } from './metadata.ts'
export { parsePom, checkPomMatches, type PomCoordinates } from './pom.ts'
export { isMavenMutablePath, mavenPathProblem, mavenReplicationHooks } from './replication.ts'

/**
 * Maven 2 repositories at /maven/{repo}/: PUT deploy (Expect: 100-continue answered only once
 * the upload is acceptable), GET/HEAD with ranges, generated maven-metadata.xml at artifact and
 * SNAPSHOT version level, checksum sidecars for every file, immutable releases, and virtual
 * repositories (first hit for files, merged metadata, deploys to defaultDeployRepo).
 */
export function mavenFormat(ctx: FormatContext) {
  return async function mavenPlugin(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)
    deferContinue(app)
    app.setErrorHandler(mavenErrorHandler)

    const get = async (request: FastifyRequest, reply: FastifyReply) => {
      const { repo, rest } = resolveMavenRepository(ctx, request, app.prefix)
      return serve(ctx, request, reply, repo, rest)
    }
    app.route({ method: ['GET', 'HEAD'], url: '/:repo/*', handler: get })
    app.route({ method: ['GET', 'HEAD'], url: '/:repo', handler: get })

    app.put('/:repo/*', async (request, reply) => {
      const { repo, rest } = resolveMavenRepository(ctx, request, app.prefix)
      return deploy(ctx, request, reply, repo, rest)
    })

    // Removing a file or a whole directory (old SNAPSHOT builds, a botched release) needs delete.
    // Through a virtual repository it removes from the member deploys go to (a virtual one holds
    // no files of its own); in a remote one it evicts the cached copy.
    app.delete('/:repo/*', async (request, reply) => {
      const { repo: named, rest } = resolveMavenRepository(ctx, request, app.prefix)
      const repo = named.type === 'virtual' ? deployTarget(ctx, named) : named
      ctx.authorize(request, repo, 'delete')
      const { path } = parseRawPath(rest)
      if (ctx.artifacts.delete(repo.key, path, ctx.userName(request))) return reply.code(204).send()
      const removed = ctx.artifacts.deleteTree(repo.key, path, ctx.userName(request))
      if (removed === 0) throw new ArtifactNotFoundError(`'${path}' not found in repository '${repo.key}'`)
      return reply.code(204).send()
    })
  }
}
