import { once } from 'node:events'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { contentLength, deployTarget } from '../core/index.ts'
import {
  consumeGuarded,
  DigestMismatchError,
  ImmutableArtifactError,
  InvalidInputError,
  SizeMismatchError,
  type BlobDigests,
  type Repository,
} from '../../store/index.ts'
import { MAX_PUBLISH_METADATA_BYTES, NPM_FORMAT } from './constants.ts'
import { tarballPath, validatePackageName, validateTag, validateVersion } from './names.ts'
import { storedManifests } from './packument.ts'
import { Base64Decoder, PublishBodyScanner } from './publish-body.ts'
import type { NpmDeps } from './read.ts'
import { readTarballManifest } from './tarball-manifest.ts'
import type { VersionRow } from './npm-index.ts'
import { deprecationPointer, distTagPointer, ensureLatestPointer, refreshPackage, versionProperties } from './replication.ts'
import { applyUpdate } from './update.ts'

/** What the body of `PUT /{name}` turned out to be. */
interface ScannedBody {
  doc: Record<string, unknown>
  /** Present when the body carried a tarball (a publish). */
  attachment: { file: string; blob: BlobDigests } | undefined
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Reads a `PUT /{name}` body as it streams in: the base64 tarball of `_attachments` is decoded
 * on the fly into the blob store (bounded by `maxBytes`), the rest is collected (bounded) and
 * parsed. Backpressure: when the decoder's buffer is full, reading the request pauses.
 */
async function scanBody(deps: NpmDeps, request: FastifyRequest, maxBytes: number): Promise<ScannedBody> {
  const { ctx } = deps
  let decoder: Base64Decoder | undefined
  let ingestion: Promise<BlobDigests> | undefined
  let ingestFailure: unknown
  const scanner = new PublishBodyScanner(MAX_PUBLISH_METADATA_BYTES, () => {
    const d = new Base64Decoder()
    decoder = d
    // The decoder may fail (bad base64) before ingest has attached to it: keep its error here,
    // it is the one to report.
    let decodeFailure: unknown
    d.on('error', (err) => {
      decodeFailure ??= err
      ingestFailure ??= err
    })
    // The request body as a whole is guarded below; the decoded tarball only for silence.
    ingestion = ctx.blobs.ingest(d, { maxBytes, idleTimeoutMs: ctx.clientBody.idleTimeoutMs }).catch((err: unknown) => {
      throw decodeFailure ?? err
    })
    ingestion.catch((err: unknown) => {
      ingestFailure ??= err
    })
    return { write: (b64) => void d.write(b64), end: () => void d.end() }
  })
  try {
    await consumeGuarded(request.raw, ctx.clientBody, async (chunk) => {
      scanner.write(chunk)
      if (ingestFailure !== undefined) throw ingestFailure
      if (decoder?.writableNeedDrain && !decoder.writableEnded) {
        await Promise.race([once(decoder, 'drain'), ingestion])
      }
    })
    const doc = scanner.end()
    const file = scanner.attachments[0]
    if (file === undefined || !ingestion) return { doc, attachment: undefined }
    return { doc, attachment: { file, blob: await ingestion } }
  } catch (err) {
    decoder?.destroy()
    await ingestion?.catch(() => {})
    ctx.uploadFailed(NPM_FORMAT, (err as { code?: string }).code ?? 'error')
    throw err
  }
}

/** The sha512 SRI of a blob (`sha512-<base64>`), as npm writes dist.integrity. */
export function integrityOf(blob: BlobDigests): string {
  return `sha512-${Buffer.from(blob.sha512, 'hex').toString('base64')}`
}

/** Checks the client's dist.integrity (any sha512 entry) and dist.shasum against the stored bytes. */
function checkDigests(dist: unknown, blob: BlobDigests): void {
  if (!isObject(dist)) return
  if (typeof dist.shasum === 'string' && dist.shasum.toLowerCase() !== blob.sha1) {
    throw new DigestMismatchError(`shasum of the tarball is ${blob.sha1}, the publish said ${dist.shasum}`)
  }
  if (typeof dist.integrity === 'string') {
    const ours = integrityOf(blob)
    const sha512s = dist.integrity.split(/\s+/).filter((s) => s.startsWith('sha512-')).map((s) => s.split('?')[0])
    if (sha512s.length > 0 && !sha512s.includes(ours)) {
      throw new DigestMismatchError(`integrity of the tarball is ${ours}, the publish said ${dist.integrity}`)
    }
  }
}

/**
 * PUT /{name} and PUT /{name}/-rev/{rev} (npm registry API). With an attachment it is a
 * publish of one new version; without, an edit of the stored document (deprecate, and with
 * -rev the removal of versions that `npm unpublish pkg@version` sends).
 */
export async function putPackage(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string, rev: string | undefined) {
  const { ctx } = deps
  const target = deployTarget(ctx, repo)
  ctx.authorize(request, target, 'write')
  validatePackageName(name)
  const limit = Math.min(ctx.maxUploadBytes, target.settings.maxUploadBytes ?? Infinity)
  // Base64 grows the tarball by 4/3; the rest of the document has its own bound.
  contentLength(request, MAX_PUBLISH_METADATA_BYTES + Math.ceil(limit / 3) * 4)
  const { doc, attachment } = await scanBody(deps, request, limit)
  const bodyName = doc.name ?? doc._id
  if (bodyName !== undefined && bodyName !== name) {
    throw new InvalidInputError(`the document names package '${String(bodyName)}', the URL '${name}'`)
  }
  if (!attachment) {
    const result = applyUpdate(deps, request, target, name, doc, rev !== undefined)
    return reply.code(200).send({ ok: true, id: name, rev: result.rev })
  }
  const { version, manifest, tags } = publishedVersion(doc, name)
  const { blob, file } = attachment
  const announced = (doc._attachments as Record<string, Record<string, unknown>>)[file]?.length
  if (typeof announced === 'number' && announced !== blob.size) {
    throw new SizeMismatchError(`the tarball has ${blob.size} bytes, the publish said ${announced}`)
  }
  checkDigests(manifest.dist, blob)
  const refuseRepublish = () => {
    if (deps.index.getVersion(target.key, name, version)) {
      throw new ImmutableArtifactError(`You cannot publish over the previously published versions: ${version}.`, { name, version })
    }
  }
  refuseRepublish()
  const packed = await readTarballManifest(await ctx.blobs.open(blob.sha256))
  if (packed.name !== name || packed.version !== version) {
    throw new InvalidInputError(
      `package.json in the tarball is ${String(packed.name)}@${String(packed.version)}, the publish is ${name}@${version}`,
    )
  }
  const publisher = ctx.userName(request)
  const stored = storedManifests({ ...manifest, _id: `${name}@${version}`, ...(publisher ? { _npmUser: { name: publisher } } : {}) })
  const path = tarballPath(name, version)
  const deprecated = typeof manifest.deprecated === 'string' && manifest.deprecated !== '' ? manifest.deprecated : null
  const revision = ctx.artifacts.transaction(() => {
    refuseRepublish()
    const row: VersionRow = {
      repo: target.key,
      name,
      version,
      manifest: stored.manifest,
      abbreviated: stored.abbreviated,
      deprecated,
      path,
      sha256: blob.sha256,
      shasum: blob.sha1,
      integrity: integrityOf(blob),
      size: blob.size,
      publishedBy: publisher,
      publishedAt: Date.now(),
    }
    try {
      ctx.artifacts.put({
        repo: target.key,
        path,
        blob,
        contentType: 'application/octet-stream',
        // What another node of the mesh rebuilds the version row from (replication.ts).
        properties: versionProperties(row),
        createdBy: publisher,
        overwrite: false,
      })
    } catch (err) {
      if (err instanceof ImmutableArtifactError) {
        throw new ImmutableArtifactError(`You cannot publish over the previously published versions: ${version}.`, { name, version })
      }
      throw err
    }
    deps.index.addVersion(row, tags)
    // Dist-tags and deprecations are pointers (last writer wins across the mesh); the rows follow them.
    for (const tag of tags) ctx.pointers.set(target.key, distTagPointer(name, tag), version, publisher)
    if (deprecated !== null) ctx.pointers.set(target.key, deprecationPointer(name, version), deprecated, publisher)
    ensureLatestPointer(deps.index, ctx.pointers, target.key, name, publisher)
    refreshPackage(deps.index, ctx.pointers, target.key, name)
    return deps.index.getPackage(target.key, name)?.rev ?? 1
  })
  return reply.code(201).send({ ok: true, id: name, rev: String(revision) })
}

/** The one version a publish document carries, checked against npm's rules. */
function publishedVersion(doc: Record<string, unknown>, name: string) {
  const versions = doc.versions
  if (!isObject(versions)) throw new InvalidInputError('the publish document has no versions')
  const keys = Object.keys(versions)
  if (keys.length !== 1) throw new InvalidInputError(`a publish carries exactly one version, this one ${keys.length}`)
  const version = validateVersion(keys[0])
  const manifest = versions[version]
  if (!isObject(manifest)) throw new InvalidInputError(`version ${version} has no manifest`)
  if (manifest.name !== name) throw new InvalidInputError(`the manifest names '${String(manifest.name)}', the URL '${name}'`)
  if (manifest.version !== version) throw new InvalidInputError(`the manifest says version '${String(manifest.version)}', not '${version}'`)
  const distTags = doc['dist-tags'] ?? {}
  if (!isObject(distTags)) throw new InvalidInputError('dist-tags must be an object')
  const tags: string[] = []
  for (const [tag, v] of Object.entries(distTags)) {
    validateTag(tag)
    if (v !== version) throw new InvalidInputError(`dist-tag '${tag}' must name the published version ${version}`)
    tags.push(tag)
  }
  return { version, manifest, tags: tags.length > 0 ? tags : ['latest'] }
}
