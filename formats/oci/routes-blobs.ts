import type { FastifyReply, FastifyRequest } from 'fastify'
import { contentLength, sendBlob } from '../core/index.ts'
import type { BlobDigests, Repository } from '../../store/index.ts'
import { BlobUnknownError, BlobUploadInvalidError, DigestInvalidError, SizeInvalidError } from './errors.ts'
import { parseDigest } from './names.ts'
import { blobPath, type OciRegistry, type WriteTarget } from './registry.ts'
import type { UploadManager, UploadSession } from './uploads.ts'

const BLOB_CONTENT_TYPE = 'application/octet-stream'

export interface BlobRoutesInit {
  registry: OciRegistry
  uploads: UploadManager
  /** Counts a failed upload for /metrics. */
  failed(reason: string): void
}

/** The client may have sent a body we do not need: read it off the socket so keep-alive stays sane. */
function discardBody(request: FastifyRequest): void {
  if (!request.raw.complete) request.raw.resume()
}

/** Whether the request carries a body (chunked, or a non-zero Content-Length). */
function hasBody(request: FastifyRequest): boolean {
  const len = request.headers['content-length']
  if (len !== undefined) return len !== '0'
  return request.headers['transfer-encoding'] !== undefined
}

/**
 * Content-Range of a chunk: `<start>-<end>` as the distribution spec writes it, or the RFC 9110
 * form `bytes <start>-<end>/<total|*>` some clients send. Returns the inclusive byte range.
 */
export function parseContentRange(header: string | undefined): { start: number; end: number } | undefined {
  if (header === undefined) return undefined
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim())
  if (!m) throw new BlobUploadInvalidError(`invalid Content-Range '${header}'`)
  const start = Number(m[1])
  const end = Number(m[2])
  if (end < start) throw new BlobUploadInvalidError(`invalid Content-Range '${header}'`)
  return { start, end }
}

/** Blob pull, delete and the upload protocol (distribution-spec § Pulling blobs, § Pushing blobs). */
export function blobRoutes(init: BlobRoutesInit) {
  const { registry, uploads } = init
  const { ctx } = registry

  const uploadLocation = (name: string, uuid: string) => `/v2/${name}/blobs/uploads/${uuid}`
  const blobLocation = (name: string, digest: string) => `/v2/${name}/blobs/${digest}`
  const limitFor = (repo: Repository) => Math.min(ctx.maxUploadBytes, repo.settings.maxUploadBytes ?? Infinity)

  /** Records `blob` as the repository's copy of a layer/config (idempotent: same digest, same bytes). */
  const link = (request: FastifyRequest, repo: Repository, blob: BlobDigests) =>
    ctx.artifacts.put({
      repo: repo.key,
      path: blobPath(blob.sha256),
      blob,
      contentType: BLOB_CONTENT_TYPE,
      createdBy: ctx.userName(request),
      overwrite: false,
    })

  const created = (reply: FastifyReply, name: string, digest: string) =>
    reply
      .code(201)
      .headers({ location: blobLocation(name, digest), 'docker-content-digest': digest, 'content-length': '0' })
      .send()

  const progress = (reply: FastifyReply, session: UploadSession, status: 202 | 204) =>
    reply
      .code(status)
      .headers({
        location: uploadLocation(session.name, session.uuid),
        range: `0-${Math.max(0, session.size - 1)}`,
        'docker-upload-uuid': session.uuid,
        'content-length': '0',
      })
      .send()

  const get = async (request: FastifyRequest, reply: FastifyReply, name: string, digest: string) => {
    const t = registry.forRead(request, name)
    const hex = parseDigest(digest)
    const found = registry.findBlob(t.members, hex)
    if (!found) throw new BlobUnknownError(`blob ${digest} is unknown to '${name}'`, { digest })
    return sendBlob(
      request,
      reply,
      ctx.blobs,
      { blob: found.blob, contentType: BLOB_CONTENT_TYPE, lastModified: found.artifact.updatedAt },
      { 'docker-content-digest': digest },
    )
  }

  const remove = async (request: FastifyRequest, reply: FastifyReply, name: string, digest: string) => {
    const t = registry.forDelete(request, name)
    const hex = parseDigest(digest)
    if (!ctx.artifacts.delete(t.target.key, blobPath(hex), ctx.userName(request))) {
      throw new BlobUnknownError(`blob ${digest} is unknown to '${name}'`, { digest })
    }
    return reply.code(202).header('content-length', '0').send()
  }

  /** Streams the whole body into the store, verified against `digest`, then links it. */
  const monolithic = async (request: FastifyRequest, reply: FastifyReply, t: WriteTarget, digest: string) => {
    const hex = parseDigest(digest)
    const limit = limitFor(t.target)
    let blob: BlobDigests
    try {
      blob = await ctx.blobs.ingest(request.raw, {
        maxBytes: limit,
        expectedSize: contentLength(request, limit),
        expected: { sha256: hex },
        ...ctx.clientBody,
      })
    } catch (err) {
      init.failed((err as { code?: string }).code ?? 'error')
      throw err
    }
    link(request, t.target, blob)
    return created(reply, t.name.full, digest)
  }

  /** POST …/blobs/uploads/: mount, monolithic upload, or a new session. */
  const start = async (request: FastifyRequest, reply: FastifyReply, name: string, query: URLSearchParams) => {
    const t = registry.forWrite(request, name)
    const digest = query.get('digest')
    const mount = query.get('mount')
    if (mount !== null) {
      const hex = parseDigest(mount)
      const from = query.get('from')
      const existing = registry.findBlob([t.target], hex)
      let source = existing?.blob
      if (!source && from !== null) source = mountable(request, from, hex)
      if (source) {
        discardBody(request)
        link(request, t.target, source)
        return created(reply, t.name.full, mount)
      }
      // Not mountable: the spec says to answer with a new upload session instead.
    } else if (digest !== null) {
      return monolithic(request, reply, t, digest)
    }
    discardBody(request)
    // No session (and no temp file) while the disk is short of space: 507 now, not half-way.
    ctx.blobs.checkSpace()
    const owner = ctx.userName(request) ?? `anonymous@${request.ip}`
    const session = await uploads.create(t.target.key, t.name.full, owner)
    return progress(reply, session, 202)
  }

  /** The blob in `from`, if the caller may read `from` and it has it. */
  const mountable = (request: FastifyRequest, from: string, hex: string) => {
    let source
    try {
      // forRead throws unless the caller may read `from`: then nothing is mounted.
      source = registry.findBlob(registry.forRead(request, from).members, hex)
    } catch {
      return undefined
    }
    return source?.blob
  }

  /** Appends the request body to the session, honouring Content-Range and Content-Length. */
  const appendBody = async (request: FastifyRequest, session: UploadSession, t: WriteTarget) => {
    const range = parseContentRange(request.headers['content-range'] as string | undefined)
    const limit = limitFor(t.target)
    const announced = contentLength(request, limit)
    if (range && announced !== undefined && announced !== range.end - range.start + 1) {
      throw new SizeInvalidError(`Content-Length ${announced} does not match Content-Range ${range.start}-${range.end}`)
    }
    try {
      await uploads.append(session, request.raw, {
        start: range?.start,
        length: announced ?? (range ? range.end - range.start + 1 : undefined),
        maxBytes: limit,
        clientBody: ctx.clientBody,
        checkSpace: (bytes) => ctx.blobs.checkSpace(bytes),
        location: uploadLocation(session.name, session.uuid),
      })
    } catch (err) {
      init.failed((err as { code?: string }).code ?? 'error')
      throw err
    }
  }

  const patch = async (request: FastifyRequest, reply: FastifyReply, name: string, uuid: string) => {
    const t = registry.forWrite(request, name)
    const session = uploads.get(uuid, t.name.full)
    await appendBody(request, session, t)
    return progress(reply, session, 202)
  }

  const status = async (request: FastifyRequest, reply: FastifyReply, name: string, uuid: string) => {
    const t = registry.forWrite(request, name)
    return progress(reply, uploads.get(uuid, t.name.full), 204)
  }

  /** PUT …/blobs/uploads/<uuid>?digest=: the last chunk (if any), then verify and store the whole file. */
  const finish = async (request: FastifyRequest, reply: FastifyReply, name: string, uuid: string, query: URLSearchParams) => {
    const t = registry.forWrite(request, name)
    const session = uploads.get(uuid, t.name.full)
    const digest = query.get('digest')
    if (digest === null) throw new DigestInvalidError('the digest query parameter is required to finish an upload')
    const hex = parseDigest(digest)
    if (hasBody(request)) await appendBody(request, session, t)
    else discardBody(request)
    if (session.busy) throw new BlobUploadInvalidError(`another request is writing to upload '${session.uuid}'`)
    session.busy = true
    let blob: BlobDigests
    try {
      const hasher = session.hasher
      session.hasher = undefined
      // Hashed as the chunks came: move the file in. Otherwise (a chunk failed half-way) hash it again.
      blob = hasher
        ? await ctx.blobs.adopt(session.file, await hasher.digest(), { sha256: hex })
        : await ctx.blobs.ingest(uploads.read(session), {
            expectedSize: session.size,
            expected: { sha256: hex },
            maxBytes: limitFor(t.target),
          })
    } catch (err) {
      init.failed((err as { code?: string }).code ?? 'error')
      // A digest that does not match is final: the spec's client starts over.
      await uploads.remove(session)
      throw err
    } finally {
      session.busy = false
    }
    link(request, t.target, blob)
    await uploads.remove(session)
    return created(reply, t.name.full, digest)
  }

  const cancel = async (request: FastifyRequest, reply: FastifyReply, name: string, uuid: string) => {
    const t = registry.forWrite(request, name)
    await uploads.remove(uploads.get(uuid, t.name.full))
    return reply.code(204).send()
  }

  return { get, remove, start, patch, status, finish, cancel }
}
