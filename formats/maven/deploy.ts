import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  ArtifactNotFoundError,
  DigestMismatchError,
  ImmutableArtifactError,
  InvalidInputError,
  InvalidPathError,
  parseRawPath,
  type BlobDigests,
  type Repository,
} from '../../store/index.ts'
import type { FormatContext } from '../core/index.ts'
import { contentLength, deployTarget, expectedDigests, sendContinue } from '../core/index.ts'
import { MAVEN_FORMAT, MAX_CHECKSUM_BODY_BYTES, MAX_CLIENT_METADATA_BYTES, MAX_POM_BYTES, type ChecksumAlgorithm } from './constants.ts'
import { contentTypeOf } from './content-types.ts'
import { readSmallBody } from './http-body.ts'
import { isSnapshotVersion, parseMavenPath, type FileCoordinates } from './layout.ts'
import { checkPomMatches, parsePom } from './pom.ts'

const HEX_LENGTH: Record<ChecksumAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 }

/**
 * PUT: Maven deploy. Everything that can be refused without the body (repository, permission,
 * path, announced size, missing base of a checksum) is refused before "100 Continue" is sent,
 * so a client that sent `Expect: 100-continue` never transmits a body that would be thrown away.
 */
export async function deploy(ctx: FormatContext, request: FastifyRequest, reply: FastifyReply, repo: Repository, rest: string) {
  const target = deployTarget(ctx, repo)
  if (target.format !== MAVEN_FORMAT) throw new InvalidInputError(`deploy repository '${target.key}' is not a maven repository`)
  if (target.key !== repo.key) ctx.authorize(request, repo, 'read')
  ctx.authorize(request, target, 'write')
  const { path, directory } = parseRawPath(rest)
  if (directory) throw new InvalidPathError('cannot PUT a directory; name a file')
  const parsed = parseMavenPath(path)
  const limit = Math.min(ctx.maxUploadBytes, target.settings.maxUploadBytes ?? Infinity)

  if (parsed.target.kind !== 'file') {
    // Client-built maven-metadata.xml and its sidecars: accepted and discarded, since the
    // metadata served is always generated from the stored files.
    const max = parsed.checksum ? MAX_CHECKSUM_BODY_BYTES : MAX_CLIENT_METADATA_BYTES
    contentLength(request, max)
    sendContinue(request, reply)
    await readSmallBody(request.raw, max, ctx.clientBody)
    return reply.code(200).send()
  }

  if (parsed.checksum) return verifySidecar(ctx, request, reply, target, parsed.path, parsed.checksum)
  return storeFile(ctx, request, reply, target, parsed.path, parsed.target.coordinates, limit)
}

/** An uploaded .sha1/.md5/.sha256/.sha512: checked against the stored file, then dropped (ours are computed). */
async function verifySidecar(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  target: Repository,
  path: string,
  alg: ChecksumAlgorithm,
) {
  const artifact = ctx.artifacts.get(target.key, path)
  if (!artifact) throw new ArtifactNotFoundError(`upload '${path}' before its ${alg} checksum`)
  contentLength(request, MAX_CHECKSUM_BODY_BYTES)
  sendContinue(request, reply)
  const body = (await readSmallBody(request.raw, MAX_CHECKSUM_BODY_BYTES, ctx.clientBody)).toString('latin1')
  // The digest is the first word; some tools append the file name ("<hex>  lib-1.0.jar").
  const claimed = (body.trim().split(/\s+/)[0] ?? '').toLowerCase()
  if (claimed.length !== HEX_LENGTH[alg] || !/^[0-9a-f]+$/.test(claimed)) {
    throw new InvalidInputError(`'${path}.${alg}' must hold a ${HEX_LENGTH[alg]}-digit hex ${alg} digest`)
  }
  const blob = ctx.blobIndex.get(artifact.sha256)
  if (!blob) throw new ArtifactNotFoundError(`the bytes of '${path}' are not on this node`)
  if (blob[alg] !== claimed) {
    throw new DigestMismatchError(`${alg} of '${path}' is ${blob[alg]}, the uploaded checksum says ${claimed}`, { path, alg })
  }
  return reply.code(200).send()
}

/** A file of the layout: streamed into the store; a POM is read whole (bounded) and checked first. */
async function storeFile(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  target: Repository,
  path: string,
  c: FileCoordinates,
  limit: number,
) {
  const isPom = c.extension === 'pom' && c.classifier === ''
  const expectedSize = contentLength(request, isPom ? Math.min(limit, MAX_POM_BYTES) : limit)
  const expected = expectedDigests(request)
  sendContinue(request, reply)
  let blob: BlobDigests
  try {
    if (isPom) {
      const bytes = await readSmallBody(request.raw, Math.min(limit, MAX_POM_BYTES), ctx.clientBody)
      checkPomMatches(parsePom(bytes), c)
      blob = await ctx.blobs.ingest(Readable.from([bytes]), { maxBytes: limit, expectedSize, expected })
    } else {
      blob = await ctx.blobs.ingest(request.raw, { maxBytes: limit, expectedSize, expected, ...ctx.clientBody })
    }
  } catch (err) {
    ctx.uploadFailed(MAVEN_FORMAT, (err as { code?: string }).code ?? 'error')
    throw err
  }
  const snapshot = isSnapshotVersion(c.baseVersion)
  let result
  try {
    result = ctx.artifacts.put({
      repo: target.key,
      path,
      blob,
      contentType: contentTypeOf(c.extension),
      properties: {
        maven: {
          groupId: c.groupId,
          artifactId: c.artifactId,
          baseVersion: c.baseVersion,
          version: c.version,
          classifier: c.classifier,
          extension: c.extension,
          ...(c.snapshot ? { timestamp: c.snapshot.timestamp, buildNumber: c.snapshot.buildNumber } : {}),
        },
      },
      createdBy: ctx.userName(request),
      // Releases are immutable (same bytes again is fine); SNAPSHOT files may be replaced.
      overwrite: snapshot && !target.settings.immutable,
    })
  } catch (err) {
    if (err instanceof ImmutableArtifactError) {
      ctx.uploadFailed(MAVEN_FORMAT, err.code)
      const kind = snapshot ? 'repository' : `release ${c.groupId}:${c.artifactId}:${c.baseVersion}`
      throw new ImmutableArtifactError(`${kind} is immutable: '${path}' already exists with different content`, err.details)
    }
    throw err
  }
  return reply.code(result.created ? 201 : 200).send()
}
