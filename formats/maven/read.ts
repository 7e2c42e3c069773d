import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ArtifactNotFoundError, parseRawPath, type Repository } from '../../store/index.ts'
import type { FormatContext } from '../core/index.ts'
import { readOrder, sendBlob, servesActiveContent } from '../core/index.ts'
import type { ChecksumAlgorithm } from './constants.ts'
import { METADATA_FILE } from './constants.ts'
import { parseMavenPath, type MavenPath } from './layout.ts'
import { artifactMetadata, renderArtifactMetadata, renderVersionMetadata, versionMetadata } from './metadata.ts'
import { findFile, storedSnapshotFiles, storedVersions } from './stored.ts'
import { sendBytes } from './http-body.ts'
import { contentTypeOf } from './content-types.ts'
import { serveMavenRemote } from './remote.ts'
import { serveMavenVirtual } from './remote-virtual.ts'

const CHECKSUM_TYPE = 'text/plain; charset=us-ascii'

function parseOrUndefined(path: string): MavenPath | undefined {
  try {
    return parseMavenPath(path)
  } catch {
    return undefined
  }
}

/** The generated maven-metadata.xml a path names, merged over `members`; undefined when nothing is stored. */
function generateMetadata(ctx: FormatContext, members: Repository[], target: MavenPath['target']) {
  if (target.kind === 'artifact-metadata') {
    const entries = members.flatMap((m) => storedVersions(ctx.artifacts, m.key, target.groupId, target.artifactId))
    const model = artifactMetadata(target.groupId, target.artifactId, entries)
    if (!model) return undefined
    return { xml: renderArtifactMetadata(model), updatedAt: Math.max(...entries.map((e) => e.updatedAt)) }
  }
  if (target.kind === 'version-metadata') {
    const files = members.flatMap((m) => storedSnapshotFiles(ctx.artifacts, m.key, target.groupId, target.artifactId, target.baseVersion))
    const model = versionMetadata(target.groupId, target.artifactId, target.baseVersion, files)
    if (!model) return undefined
    return { xml: renderVersionMetadata(model), updatedAt: Math.max(...files.map((f) => f.updatedAt)) }
  }
  return undefined
}

function digestHex(alg: ChecksumAlgorithm, body: Buffer): string {
  return createHash(alg).update(body).digest('hex')
}

/** A JSON listing of a directory of the layout (union over a virtual repository's members). */
function listing(ctx: FormatContext, repo: Repository, members: Repository[], dir: string) {
  const dirs = new Set<string>()
  const files = new Map<string, { name: string; type: 'file'; size: number; sha256: string; updated: string }>()
  for (const m of members) {
    const l = ctx.artifacts.list(m.key, dir)
    for (const d of l.dirs) dirs.add(d)
    for (const a of l.files) {
      const name = a.path.slice(a.path.lastIndexOf('/') + 1)
      if (!files.has(name)) files.set(name, { name, type: 'file', size: a.size, sha256: a.sha256, updated: new Date(a.updatedAt).toISOString() })
    }
  }
  return {
    repo: repo.key,
    path: dir === '' ? '/' : `/${dir}/`,
    children: [...[...dirs].sort().map((name) => ({ name, type: 'dir' as const })), ...[...files.values()].sort((a, b) => (a.name < b.name ? -1 : 1))],
  }
}

/** GET and HEAD: stored files (exact or latest SNAPSHOT build), generated metadata, sidecars, listings. */
export async function serve(ctx: FormatContext, request: FastifyRequest, reply: FastifyReply, repo: Repository, rest: string) {
  ctx.authorize(request, repo, 'read')
  const members = readOrder(ctx, request, repo)
  const { path, directory } = parseRawPath(rest, true)
  const parsed = directory ? undefined : parseOrUndefined(path)
  if (repo.type === 'remote' && parsed) return serveMavenRemote(ctx, request, reply, repo, parsed)
  if (parsed && repo.type === 'virtual' && members.some((m) => m.type === 'remote')) {
    return serveMavenVirtual(ctx, request, reply, repo, members, parsed, (locals) => generateMetadata(ctx, locals, parsed.target))
  }
  if (!parsed) {
    if (path === '' || members.some((m) => ctx.artifacts.hasTree(m.key, path))) {
      return reply.header('cache-control', 'no-cache').send(listing(ctx, repo, members, path))
    }
    throw new ArtifactNotFoundError(`'${path}' not found in repository '${repo.key}'`)
  }
  const { target, checksum } = parsed
  if (target.kind !== 'file') {
    const generated = generateMetadata(ctx, members, target)
    if (!generated) throw new ArtifactNotFoundError(`no ${METADATA_FILE} for '${parsed.path}': nothing is stored there`)
    const xml = Buffer.from(generated.xml)
    if (checksum) return sendBytes(request, reply, Buffer.from(digestHex(checksum, xml)), CHECKSUM_TYPE, generated.updatedAt)
    return sendBytes(request, reply, xml, 'text/xml; charset=utf-8', generated.updatedAt)
  }
  for (const member of members) {
    const artifact = findFile(ctx.artifacts, member.key, parsed.path, target.coordinates)
    if (!artifact) continue
    const blob = ctx.blobIndex.get(artifact.sha256)
    if (!blob) throw new ArtifactNotFoundError(`the bytes of '${artifact.path}' are not on this node`)
    if (checksum) return sendBytes(request, reply, Buffer.from(blob[checksum]), CHECKSUM_TYPE, artifact.updatedAt)
    return sendBlob(request, reply, ctx.blobs, {
      blob,
      contentType: artifact.contentType ?? contentTypeOf(target.coordinates.extension),
      lastModified: artifact.updatedAt,
      serveActiveContent: servesActiveContent(repo),
    })
  }
  throw new ArtifactNotFoundError(`'${path}' not found in repository '${repo.key}'`)
}
