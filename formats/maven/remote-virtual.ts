import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ArtifactNotFoundError, NotFoundError, type Repository } from '../../store/index.ts'
import { remoteEngine, sendBlob, servesActiveContent, type FormatContext } from '../core/index.ts'
import { METADATA_FILE } from './constants.ts'
import { contentTypeOf } from './content-types.ts'
import { sendBytes } from './http-body.ts'
import { artifactDir, type MavenPath } from './layout.ts'
import { artifactMetadata, renderArtifactMetadata, type VersionEntry } from './metadata.ts'
import { serveMavenRemote, upstreamVersionEntries } from './remote.ts'
import { findFile, storedVersions } from './stored.ts'

/*
 * Virtual Maven repositories with remote members (the usual "public" group: releases +
 * snapshots + a Maven Central proxy). Files: the first member, in configured order, that has
 * the file (a remote member asks its upstream; its 404 passes on to the next member).
 * Artifact-level maven-metadata.xml: the versions of every member merged (local ones from
 * what is stored, remote ones from the upstream's metadata), latest and release recomputed.
 * SNAPSHOT version-level metadata: the first member that has it (builds of one SNAPSHOT are
 * not mixed across repositories). A remote member that fails is skipped while another member
 * answers; when none does, its error is what the client sees (502, not 404).
 */

const CHECKSUM_TYPE = 'text/plain; charset=us-ascii'

/** Drops the cache headers a failed remote member set before the next member answers. */
const forget = (reply: FastifyReply) => reply.removeHeader('x-ak-cache').removeHeader('warning')

/**
 * GET/HEAD of a layout path through a virtual repository that has remote members.
 * `generated` renders the metadata of the given local members (undefined when they hold none).
 */
export async function serveMavenVirtual(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  repo: Repository,
  members: Repository[],
  parsed: MavenPath,
  generated: (locals: Repository[]) => { xml: string; updatedAt: number } | undefined,
): Promise<FastifyReply> {
  const { target, checksum } = parsed
  let failure: unknown

  if (target.kind === 'artifact-metadata') {
    const entries: VersionEntry[] = []
    for (const m of members) {
      if (m.type !== 'remote') {
        entries.push(...storedVersions(ctx.artifacts, m.key, target.groupId, target.artifactId))
        continue
      }
      try {
        const path = `${artifactDir(target.groupId, target.artifactId)}/${METADATA_FILE}`
        const doc = await remoteEngine(ctx).fetchMutable(m, {
          path,
          url: remoteEngine(ctx).upstreamUrl(m, path),
          accept: 'application/xml, text/xml, */*',
          validate: (body) => void upstreamVersionEntries(body.toString('utf8')),
        })
        entries.push(...upstreamVersionEntries((await doc.body()).toString('utf8')))
      } catch (err) {
        if (!(err instanceof NotFoundError)) failure ??= err
      }
    }
    const model = artifactMetadata(target.groupId, target.artifactId, entries)
    if (!model) {
      if (failure) throw failure
      throw new ArtifactNotFoundError(`no ${METADATA_FILE} for '${parsed.path}' in any member of '${repo.key}'`)
    }
    const xml = Buffer.from(renderArtifactMetadata(model))
    const updatedAt = Math.max(0, ...entries.map((e) => e.updatedAt))
    if (checksum) return sendBytes(request, reply, Buffer.from(createHash(checksum).update(xml).digest('hex')), CHECKSUM_TYPE, updatedAt)
    return sendBytes(request, reply, xml, 'text/xml; charset=utf-8', updatedAt)
  }

  for (const m of members) {
    if (m.type === 'remote') {
      try {
        await serveMavenRemote(ctx, request, reply, m, parsed)
        return reply
      } catch (err) {
        if (reply.sent) throw err
        forget(reply)
        if (!(err instanceof NotFoundError)) failure ??= err
        continue
      }
    }
    if (target.kind === 'version-metadata') {
      const local = generated([m])
      if (!local) continue
      const xml = Buffer.from(local.xml)
      if (checksum) return sendBytes(request, reply, Buffer.from(createHash(checksum).update(xml).digest('hex')), CHECKSUM_TYPE, local.updatedAt)
      return sendBytes(request, reply, xml, 'text/xml; charset=utf-8', local.updatedAt)
    }
    const artifact = findFile(ctx.artifacts, m.key, parsed.path, target.coordinates)
    const blob = artifact ? ctx.blobIndex.get(artifact.sha256) : undefined
    if (!artifact || !blob) continue
    if (checksum) return sendBytes(request, reply, Buffer.from(blob[checksum]), CHECKSUM_TYPE, artifact.updatedAt)
    return sendBlob(request, reply, ctx.blobs, {
      blob,
      contentType: artifact.contentType ?? contentTypeOf(target.coordinates.extension),
      lastModified: artifact.updatedAt,
      serveActiveContent: servesActiveContent(repo),
    })
  }
  if (failure) throw failure
  throw new ArtifactNotFoundError(`'${parsed.path}' not found in any member of '${repo.key}'`)
}
