import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sendBlob } from '../core/index.ts'
import { bodyWatchdog, type BlobDigests, type BlobRecord, type ClientBodyLimits } from '../../store/index.ts'
import { MAX_MANIFEST_BYTES, MAX_REPLICATED_ANNOTATIONS_BYTES } from './constants.ts'
import {
  DigestInvalidError,
  ManifestBlobUnknownError,
  ManifestInvalidError,
  ManifestTooLargeError,
  ManifestUnknownError,
  TagImmutableError,
} from './errors.ts'
import { parseManifest } from './manifest.ts'
import { parseDigest, parseReference, TAG } from './names.ts'
import { blobPath, manifestPath, tagPath, type FoundManifest, type OciRegistry } from './registry.ts'

/**
 * A refused body up to this size is read off the socket before answering, so the client sees
 * the error instead of a connection reset while it is still sending; past it we close.
 */
const DRAIN_LIMIT = 4 * MAX_MANIFEST_BYTES

/**
 * Reads a manifest body whole, refusing past `max` bytes. Manifests must be parsed and checked
 * before anything is stored, so they are the one body read into memory, and it is bounded.
 */
export function readBounded(request: FastifyRequest, max: number, limits: ClientBodyLimits): Promise<Buffer> {
  const raw = request.raw
  const announced = request.headers['content-length']
  let refused: Error | undefined
  if (announced !== undefined && Number(announced) > max) {
    refused = new ManifestTooLargeError(`manifest of ${announced} bytes exceeds the maximum of ${max} bytes`)
    if (Number(announced) > DRAIN_LIMIT) return Promise.reject(refused)
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const watchdog = bodyWatchdog(limits, { source: raw })
    const onGuard = () => fail(watchdog.signal.reason as Error)
    watchdog.signal.addEventListener('abort', onGuard, { once: true })
    const cleanup = () => {
      watchdog.stop()
      watchdog.signal.removeEventListener('abort', onGuard)
      raw.off('data', onData)
      raw.off('end', onEnd)
      raw.off('error', fail)
    }
    const fail = (err: Error) => {
      cleanup()
      // Let the rest flow away; the error handler closes the connection after answering.
      raw.resume()
      reject(err)
    }
    const onData = (chunk: Buffer) => {
      watchdog.touch(chunk.length)
      total += chunk.length
      if (total > DRAIN_LIMIT) return fail(refused ?? new ManifestTooLargeError(`manifest exceeds the maximum of ${max} bytes`))
      if (total > max) {
        // Keep reading (and dropping) to the end, then answer 413.
        refused ??= new ManifestTooLargeError(`manifest exceeds the maximum of ${max} bytes`)
        chunks.length = 0
        return
      }
      if (!refused) chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      if (refused) reject(refused)
      else resolve(Buffer.concat(chunks, total))
    }
    raw.on('data', onData)
    raw.once('end', onEnd)
    raw.once('error', fail)
  })
}

/** Manifest pull, push and delete (distribution-spec § Pulling manifests, § Pushing Manifests, § Deleting). */
export function manifestRoutes(registry: OciRegistry) {
  const { ctx, index } = registry

  const get = async (request: FastifyRequest, reply: FastifyReply, name: string, reference: string) => {
    const t = registry.forRead(request, name)
    const found = registry.findManifest(t, reference)
    return sendBlob(
      request,
      reply,
      ctx.blobs,
      { blob: found.blob, contentType: found.row.mediaType, lastModified: found.artifact.updatedAt },
      { 'docker-content-digest': found.row.digest },
    )
  }

  const put = async (request: FastifyRequest, reply: FastifyReply, name: string, reference: string) => {
    const t = registry.forWrite(request, name)
    let tag: string | undefined
    if (reference.includes(':')) parseDigest(reference)
    else if (TAG.test(reference)) tag = reference
    else throw new ManifestInvalidError(`invalid tag '${reference}'`, { tag: reference })

    const body = await readBounded(request, MAX_MANIFEST_BYTES, ctx.clientBody)
    const hex = createHash('sha256').update(body).digest('hex')
    const digest = `sha256:${hex}`
    if (tag === undefined && reference !== digest) {
      throw new DigestInvalidError(`the manifest's digest is ${digest}, the request named ${reference}`, { digest: reference })
    }
    const parsed = parseManifest(body, request.headers['content-type'])
    const { target } = t
    const image = t.name.image

    // Every blob and child manifest must exist (spec: MANIFEST_BLOB_UNKNOWN). Through a virtual
    // repository, what another member holds is linked into the deploy target.
    const blobLinks: BlobRecord[] = []
    for (const d of parsed.blobs) {
      const dhex = d.digest.slice('sha256:'.length)
      let found = registry.findBlob([target], dhex)
      if (!found && t.repo.type === 'virtual') {
        found = registry.findBlob(t.members, dhex)
        if (found) blobLinks.push(found.blob)
      }
      if (!found) throw new ManifestBlobUnknownError(`blob ${d.digest} is unknown to '${name}'`, { digest: d.digest })
      if (found.blob.size !== d.size) {
        throw new ManifestInvalidError(`blob ${d.digest} has ${found.blob.size} bytes, the manifest says ${d.size}`, { digest: d.digest })
      }
    }
    const manifestCopies: FoundManifest[] = []
    for (const d of parsed.manifests) {
      if (index.manifest(target.key, image, d.digest)) continue
      let found: FoundManifest | undefined
      if (t.repo.type === 'virtual') {
        try {
          found = registry.findManifest(t, d.digest)
        } catch {
          found = undefined
        }
      }
      if (!found) throw new ManifestBlobUnknownError(`manifest ${d.digest} is unknown to '${name}'`, { digest: d.digest })
      manifestCopies.push(found)
    }
    if (tag !== undefined && target.settings.immutable) {
      const current = index.tag(target.key, image, tag)
      if (current !== undefined && current !== digest) {
        throw new TagImmutableError(`tag '${tag}' of '${name}' already points at ${current} and the repository is immutable`, { tag })
      }
    }

    const blob: BlobDigests = await ctx.blobs.ingest(Readable.from([body]), { expected: { sha256: hex }, expectedSize: body.length })
    const createdBy = ctx.userName(request)
    ctx.artifacts.transaction(() => {
      for (const b of blobLinks) {
        ctx.artifacts.put({ repo: target.key, path: blobPath(b.sha256), blob: b, contentType: 'application/octet-stream', createdBy, overwrite: false })
      }
      for (const m of manifestCopies) {
        const mhex = m.row.digest.slice('sha256:'.length)
        ctx.artifacts.put({
          repo: target.key,
          path: manifestPath(image, mhex),
          blob: m.blob,
          contentType: m.row.mediaType,
          properties: m.artifact.properties,
          createdBy,
          overwrite: false,
        })
        index.putManifest({ ...m.row, repo: target.key })
      }
      const properties = {
        digest,
        mediaType: parsed.mediaType,
        ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
        ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
        // With the fields above, what another node of the mesh rebuilds the oci_manifests row from.
        ...(parsed.annotations && JSON.stringify(parsed.annotations).length <= MAX_REPLICATED_ANNOTATIONS_BYTES
          ? { annotations: parsed.annotations }
          : {}),
      }
      ctx.artifacts.put({ repo: target.key, path: manifestPath(image, hex), blob, contentType: parsed.mediaType, properties, createdBy, overwrite: false })
      index.putManifest({
        repo: target.key,
        name: image,
        digest,
        mediaType: parsed.mediaType,
        size: body.length,
        artifactType: parsed.artifactType ?? null,
        subject: parsed.subject?.digest ?? null,
        annotations: parsed.annotations ?? null,
      })
      if (tag !== undefined) {
        // Tags move: the tag artifact is overwritten (a replicated event, last writer wins).
        ctx.artifacts.put({ repo: target.key, path: tagPath(image, tag), blob, contentType: parsed.mediaType, properties: { digest }, createdBy, overwrite: true })
        index.setTag(target.key, image, tag, digest)
      }
    })
    reply.code(201).headers({
      location: `/v2/${name}/manifests/${digest}`,
      'docker-content-digest': digest,
      'content-length': '0',
    })
    if (parsed.subject) reply.header('oci-subject', parsed.subject.digest)
    return reply.send()
  }

  /** DELETE by tag removes the tag; by digest removes the manifest and every tag on it. */
  const remove = async (request: FastifyRequest, reply: FastifyReply, name: string, reference: string) => {
    const t = registry.forDelete(request, name)
    const ref = parseReference(reference)
    const repo = t.target.key
    const image = t.name.image
    const by = ctx.userName(request)
    if (ref.kind === 'tag') {
      if (index.tag(repo, image, ref.tag) === undefined) {
        throw new ManifestUnknownError(`tag '${ref.tag}' of '${name}' is unknown`, { name, reference })
      }
      ctx.artifacts.transaction(() => {
        index.deleteTag(repo, image, ref.tag)
        ctx.artifacts.delete(repo, tagPath(image, ref.tag), by)
      })
    } else {
      if (!index.manifest(repo, image, ref.digest)) {
        throw new ManifestUnknownError(`manifest ${ref.digest} of '${name}' is unknown`, { name, reference })
      }
      ctx.artifacts.transaction(() => {
        for (const tag of index.tagsOf(repo, image, ref.digest)) {
          index.deleteTag(repo, image, tag)
          ctx.artifacts.delete(repo, tagPath(image, tag), by)
        }
        index.deleteManifest(repo, image, ref.digest)
        ctx.artifacts.delete(repo, manifestPath(image, ref.hex), by)
        index.pruneImage(repo, image)
      })
    }
    return reply.code(202).header('content-length', '0').send()
  }

  return { get, put, remove }
}
