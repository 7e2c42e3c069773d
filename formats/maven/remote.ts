import type { FastifyReply, FastifyRequest } from 'fastify'
import { XMLParser } from 'fast-xml-parser'
import type { BlobRecord, Repository } from '../../store/index.ts'
import { cacheHeaders, remoteEngine, sendBlob, servesActiveContent, type FormatContext } from '../core/index.ts'
import { contentTypeOf } from './content-types.ts'
import { sendBytes } from './http-body.ts'
import { isSnapshotVersion, type MavenPath } from './layout.ts'
import type { VersionEntry } from './metadata.ts'

/*
 * Maven remote repositories: a proxy of an upstream Maven 2 repository (Maven Central, another
 * node's repository…), path for path (https://maven.apache.org/repositories/layout.html). Every
 * fetched file is an artifact of the remote repository at its own layout path.
 *
 * Classification:
 * - maven-metadata.xml (artifact and SNAPSHOT version level) is mutable: it lists versions and
 *   builds that the upstream adds to. TTL, revalidation, stale-if-error.
 * - A file named with the literal -SNAPSHOT version (lib-1.0-SNAPSHOT.jar, as non-unique
 *   deploys write it) is mutable too: each deploy replaces it.
 * - Everything else (release files, timestamped SNAPSHOT builds lib-1.0-20261125.123456-3.jar,
 *   which are unique by construction) is immutable: fetched once, cached for good.
 * - Checksum sidecars (.sha1, .md5, .sha256, .sha512) are never fetched: they are computed from
 *   the bytes this node serves, so the sidecar always matches the file the client got (with a
 *   mutable maven-metadata.xml, an upstream sidecar could describe a newer copy than ours).
 *   maven-metadata.xml carries no URLs, so nothing is rewritten.
 */

const CHECKSUM_TYPE = 'text/plain; charset=us-ascii'

const parser = new XMLParser({ parseTagValue: false, ignoreAttributes: true, processEntities: false, isArray: (name) => name === 'version' })

interface MetadataDoc {
  metadata?: { versioning?: { versions?: { version?: unknown[] }; lastUpdated?: unknown } }
}

/** Parses a maven-metadata.xml; throws when it is not one. */
function parseMetadata(xml: string): MetadataDoc {
  const doc = parser.parse(xml) as MetadataDoc
  if (!doc || typeof doc !== 'object' || !doc.metadata) throw new Error('not a maven-metadata.xml document')
  return doc
}

/** The versions an upstream artifact-level maven-metadata.xml lists, dated by its lastUpdated. */
export function upstreamVersionEntries(xml: string): VersionEntry[] {
  const versioning = parseMetadata(xml).metadata?.versioning
  const stamp = typeof versioning?.lastUpdated === 'string' ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(versioning.lastUpdated.trim()) : null
  const updatedAt = stamp ? Date.UTC(+stamp[1]!, +stamp[2]! - 1, +stamp[3]!, +stamp[4]!, +stamp[5]!, +stamp[6]!) : 0
  const versions = versioning?.versions?.version ?? []
  return versions.filter((v): v is string => typeof v === 'string' && v.trim() !== '').map((v) => ({ version: v.trim(), updatedAt }))
}

/** Whether a parsed Maven path names a mutable document (revalidated by TTL) rather than an immutable file. */
export function isMavenRemoteMutable(parsed: MavenPath): boolean {
  const { target } = parsed
  if (target.kind !== 'file') return true
  return isSnapshotVersion(target.coordinates.version)
}

function upstreamUrlOf(ctx: FormatContext, repo: Repository, path: string): string {
  return remoteEngine(ctx).upstreamUrl(repo, path.split('/').map(encodeURIComponent).join('/'))
}

function contentTypeFor(parsed: MavenPath): string {
  return parsed.target.kind === 'file' ? contentTypeOf(parsed.target.coordinates.extension) : 'text/xml; charset=utf-8'
}

/**
 * GET/HEAD of a layout path (`parsed`) in a Maven remote repository: the file from this node's
 * cache, else from the upstream (stored as it streams to the client); sidecars from the digests
 * of what is served.
 */
export async function serveMavenRemote(
  ctx: FormatContext,
  request: FastifyRequest,
  reply: FastifyReply,
  repo: Repository,
  parsed: MavenPath,
): Promise<FastifyReply> {
  const engine = remoteEngine(ctx)
  const { path, checksum } = parsed
  const url = upstreamUrlOf(ctx, repo, path)
  const contentType = contentTypeFor(parsed)

  if (isMavenRemoteMutable(parsed)) {
    const doc = await engine.fetchMutable(
      repo,
      parsed.target.kind === 'file'
        ? { path, url }
        : { path, url, accept: 'application/xml, text/xml, */*', validate: (body) => void parseMetadata(body.toString('utf8')) },
    )
    cacheHeaders(reply, doc.cache)
    if (checksum) return sendBytes(request, reply, Buffer.from(doc.blob[checksum]), CHECKSUM_TYPE, doc.artifact.updatedAt)
    return sendBlob(request, reply, ctx.blobs, { blob: doc.blob, contentType, lastModified: doc.artifact.updatedAt, serveActiveContent: servesActiveContent(repo) })
  }

  if (!checksum) return engine.serveImmutable(request, reply, repo, { path, url, contentType })

  // A sidecar of an immutable file: the digest of our copy, fetched first when we have none.
  const stored = ctx.artifacts.get(repo.key, path)
  let blob: BlobRecord | undefined = stored ? ctx.blobIndex.get(stored.sha256) : undefined
  let updatedAt = stored?.updatedAt ?? 0
  cacheHeaders(reply, blob ? 'HIT' : 'MISS')
  if (!blob) {
    const artifact = await engine.fetchImmutable(repo, { path, url, contentType })
    blob = ctx.blobIndex.get(artifact.sha256) as BlobRecord
    updatedAt = artifact.updatedAt
  }
  return sendBytes(request, reply, Buffer.from(blob[checksum]), CHECKSUM_TYPE, updatedAt)
}
