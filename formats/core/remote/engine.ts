import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import {
  AkError,
  NotFoundError,
  UpstreamInvalidError,
  UpstreamUnavailableError,
  type Artifact,
  type BlobDigests,
  type BlobRecord,
  type Repository,
} from '../../../store/index.ts'
import type { FormatContext } from '../context.ts'
import { sendBlob } from '../serve-blob.ts'
import { artifactHeaders, servesActiveContent } from '../active-content.ts'
import {
  CACHE_STATUS_HEADER,
  DEFAULT_MAX_METADATA_BYTES,
  DEFAULT_METADATA_TTL,
  DEFAULT_NEGATIVE_TTL,
  DEFAULT_UPSTREAM_TIMEOUT,
  STALE_WARNING,
  TEE_HIGH_WATER_MARK,
} from './constants.ts'
import { NegativeCache } from './negative-cache.ts'
import { StoreAndClientTee } from './tee.ts'
import type { CacheStatus, ImmutableSpec, MutableResult, MutableSpec, RemoteOptions, Upstream } from './types.ts'
import { defaultDispatcher, header, joinUpstream, redact, sendUpstream, upstreamFailure, upstreamOf } from './upstream.ts'

/** What the engine needs of the node: the store, and the remote defaults. */
export type RemoteComponents = Pick<FormatContext, 'artifacts' | 'blobs' | 'blobIndex' | 'maxUploadBytes'> & { remote?: RemoteOptions }

/**
 * The proxy engine of remote repositories, shared by every format. A format classifies each
 * path (immutable file or mutable metadata), chooses where it is stored and rewrites metadata
 * at serve time; the engine does the rest (docs in ./README.md).
 */
export interface RemoteEngine {
  /** The repository's upstream (settings.upstream). */
  upstream(repo: Repository): Upstream
  /** `{upstream url}/{relative}`. */
  upstreamUrl(repo: Repository, relative: string): string
  /** A fresh enough copy of a mutable document: stored (HIT), fetched (MISS), revalidated, or stale when the upstream fails. */
  fetchMutable(repo: Repository, spec: MutableSpec): Promise<MutableResult>
  /**
   * Serves an immutable file: from the store (mesh first), else streamed from the upstream while
   * it is stored. A handler may return it as it returns sendBlob(). Never test what it resolves
   * to: a FastifyReply is thenable, so the promise settles when the response is finished, with
   * undefined (the bug behind a refetch of every cached file once).
   */
  serveImmutable(request: FastifyRequest, reply: FastifyReply, repo: Repository, spec: ImmutableSpec): Promise<FastifyReply>
  /** Makes sure an immutable file is stored (fetching it when missing) and returns its artifact. */
  fetchImmutable(repo: Repository, spec: ImmutableSpec): Promise<Artifact>
  /**
   * Serves `path` from the download of it under way, if there is one, and resolves true; false
   * when none runs. A follower needs none of the metadata that named the file (an npm packument
   * revalidated once more per request while 50 clients wait for one tarball).
   */
  joinDownload(request: FastifyRequest, reply: FastifyReply, repo: Repository, path: string): Promise<boolean>
}

/** Sets X-AK-Cache and, for stale answers, the RFC 7234 Warning. */
export function cacheHeaders(reply: FastifyReply, cache: CacheStatus): FastifyReply {
  reply.header(CACHE_STATUS_HEADER, cache)
  if (cache === 'STALE') reply.header('warning', STALE_WARNING)
  return reply
}

/**
 * Bytes of a stored blob that are not on this node and that no peer could provide (the swarm
 * wraps ctx.blobs.open): the engine then goes to the upstream instead. The swarm scheduler
 * reports "no source has it" as AK_STORAGE_ERROR (503 for local repositories, docs/swarm.md)
 * with `details.noSource`; a remote repository has the upstream left to ask.
 */
export function isMissingBytes(err: unknown): boolean {
  const e = err as { code?: string; name?: string; details?: { noSource?: unknown } }
  return (
    e?.code === 'AK_BLOB_NOT_FOUND' ||
    e?.name === 'SourceError' ||
    e?.code === 'AK_ARTIFACT_NOT_FOUND' ||
    (e?.code === 'AK_STORAGE_ERROR' && e.details?.noSource === true)
  )
}

/** The remote properties recorded on every artifact the engine stores. */
interface RemoteProperties {
  fetchedAt: number
  etag?: string
  lastModified?: string
  upstreamUrl: string
}

function remoteProps(a: Artifact): RemoteProperties | undefined {
  const p = a.properties as Partial<RemoteProperties>
  return typeof p.fetchedAt === 'number' && typeof p.upstreamUrl === 'string' ? (p as RemoteProperties) : undefined
}

async function readBounded(stream: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > max) {
      stream.destroy()
      throw new UpstreamInvalidError(`${what} is larger than ${max} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Ingest failures of upstream bytes are the upstream's fault. */
function ingestFailure(err: unknown, url: string): Error {
  const code = (err as { code?: string }).code
  if (code === 'AK_SIZE_MISMATCH' || code === 'AK_DIGEST_MISMATCH' || code === 'AK_BODY_TOO_LARGE') {
    return new UpstreamInvalidError(`upstream ${redact(url)}: ${(err as Error).message}`)
  }
  if (err instanceof AkError && code !== 'AK_CLIENT_ABORTED' && code !== 'AK_BODY_TIMEOUT') return err
  return upstreamFailure(err, url)
}

const WEAK_FIELDS = [
  'etag',
  'last-modified',
  'accept-ranges',
  'content-length',
  'content-range',
  'content-disposition',
  'x-checksum-sha256',
  'x-checksum-sha1',
  'x-checksum-md5',
]

export function createRemoteEngine(components: RemoteComponents): RemoteEngine {
  const { artifacts, blobs, blobIndex } = components
  const options = components.remote ?? {}
  const dispatcher: Dispatcher = options.dispatcher ?? defaultDispatcher({ allowPrivate: options.allowPrivateAddresses })
  const timeoutMs = options.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT
  const maxMetadataBytes = options.maxMetadataBytes ?? DEFAULT_MAX_METADATA_BYTES
  const negative = new NegativeCache()
  /** In-flight upstream work per (repository, path): concurrent misses share one request. */
  const flights = new Map<string, Promise<unknown>>()

  const ttlOf = (repo: Repository): number => {
    const v = repo.settings.metadataTtlMs
    return typeof v === 'number' && v >= 0 ? v : (options.metadataTtlMs ?? DEFAULT_METADATA_TTL)
  }
  const negativeTtlOf = (repo: Repository): number => {
    const v = repo.settings.negativeTtlMs
    return typeof v === 'number' && v >= 0 ? v : (options.negativeTtlMs ?? DEFAULT_NEGATIVE_TTL)
  }
  const maxFileBytes = (repo: Repository): number => Math.min(components.maxUploadBytes, repo.settings.maxUploadBytes ?? Infinity)

  const singleFlight = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const running = flights.get(key) as Promise<T> | undefined
    if (running) return running
    const p = work().finally(() => flights.delete(key))
    flights.set(key, p)
    return p
  }

  const headersFor = (repo: Repository, url: string, extra: Record<string, string> = {}): Record<string, string> => {
    const up = upstreamOf(repo)
    const h: Record<string, string> = { 'user-agent': 'artifact-keeper', ...extra }
    // Credentials go to the upstream's origin only (a packument may point tarballs elsewhere).
    if (up.authorization && h.authorization === undefined && new URL(url).origin === new URL(up.url).origin) h.authorization = up.authorization
    return h
  }

  const notFoundUpstream = (repo: Repository, url: string): never => {
    throw new NotFoundError(`'${redact(url)}' was not found upstream of repository '${repo.key}'`)
  }

  /** Reads a stored blob whole (metadata only: bounded). */
  const readStored = async (blob: BlobRecord): Promise<Buffer> => {
    if (blob.size > maxMetadataBytes) throw new UpstreamInvalidError(`stored metadata of ${blob.size} bytes exceeds ${maxMetadataBytes}`)
    if (blob.size === 0) return Buffer.alloc(0)
    return readBounded(await blobs.open(blob.sha256), maxMetadataBytes, 'stored metadata')
  }

  const storedResult = async (artifact: Artifact, cache: CacheStatus): Promise<MutableResult | undefined> => {
    const blob = blobIndex.get(artifact.sha256)
    if (!blob) return undefined
    let body: Buffer
    try {
      body = await readStored(blob)
    } catch (err) {
      if (isMissingBytes(err)) return undefined
      throw err
    }
    return { artifact, blob, cache, contentType: artifact.contentType ?? undefined, body: async () => body }
  }

  const refresh = async (repo: Repository, spec: MutableSpec, stored: Artifact | undefined): Promise<MutableResult> => {
    const props = stored ? remoteProps(stored) : undefined
    const stale = async (cause: Error): Promise<MutableResult> => {
      const r = stored ? await storedResult(stored, 'STALE') : undefined
      if (!r) throw cause
      return r
    }
    if (negative.has(repo.key, spec.url)) notFoundUpstream(repo, spec.url)
    const conditional: Record<string, string> = {}
    if (stored && props?.etag) conditional['if-none-match'] = props.etag
    if (stored && props?.lastModified) conditional['if-modified-since'] = props.lastModified
    if (spec.accept) conditional.accept = spec.accept
    let res: Dispatcher.ResponseData
    try {
      res = await sendUpstream({ url: spec.url, headers: headersFor(repo, spec.url, { ...spec.headers, ...conditional }), timeoutMs, dispatcher })
    } catch (err) {
      return stale(err as Error)
    }
    const status = res.statusCode
    if (status === 304 && stored) {
      res.body.resume()
      const blob = blobIndex.get(stored.sha256)
      if (blob) {
        const updated = artifacts.put({
          repo: repo.key,
          path: spec.path,
          blob,
          contentType: stored.contentType,
          properties: { ...stored.properties, fetchedAt: Date.now() },
          overwrite: true,
        }).artifact
        const r = await storedResult(updated, 'REVALIDATED')
        if (r) return r
      }
      // Our copy's bytes are gone: fetch it again unconditionally.
      return refresh(repo, spec, undefined)
    }
    if (status === 404 || status === 410) {
      res.body.resume()
      negative.add(repo.key, spec.url, negativeTtlOf(repo))
      notFoundUpstream(repo, spec.url)
    }
    if (status < 200 || status >= 300) {
      res.body.resume()
      return stale(new UpstreamUnavailableError(`upstream ${redact(spec.url)} answered ${status}`, { upstreamStatus: status }))
    }
    let body: Buffer
    const contentType = header(res.headers, 'content-type')
    try {
      const announced = header(res.headers, 'content-length')
      if (announced !== undefined && Number(announced) > maxMetadataBytes) {
        res.body.destroy()
        throw new UpstreamInvalidError(`upstream ${redact(spec.url)} announced ${announced} bytes, more than the ${maxMetadataBytes} allowed for metadata`)
      }
      body = await readBounded(res.body, maxMetadataBytes, `metadata from ${redact(spec.url)}`).catch((err: unknown) => {
        throw upstreamFailure(err, spec.url)
      })
      if (announced !== undefined && body.length !== Number(announced)) {
        throw new UpstreamInvalidError(`upstream ${redact(spec.url)} sent ${body.length} bytes, announced ${announced}`)
      }
      try {
        spec.validate?.(body, contentType ?? '')
      } catch (err) {
        throw new UpstreamInvalidError(`upstream ${redact(spec.url)} sent unusable metadata: ${(err as Error).message}`)
      }
    } catch (err) {
      return stale(err as Error)
    }
    const digests = await blobs.ingest(Readable.from([body]), { expectedSize: body.length })
    const properties: RemoteProperties = { fetchedAt: Date.now(), upstreamUrl: spec.url }
    const etag = header(res.headers, 'etag')
    const lastModified = header(res.headers, 'last-modified')
    if (etag) properties.etag = etag
    if (lastModified) properties.lastModified = lastModified
    const { artifact } = artifacts.put({
      repo: repo.key,
      path: spec.path,
      blob: digests,
      contentType: contentType ?? null,
      properties: properties as unknown as Record<string, unknown>,
      overwrite: true,
    })
    const blob = blobIndex.get(digests.sha256) as BlobRecord
    return { artifact, blob, cache: 'MISS', contentType, body: async () => body }
  }

  /** Fetches an immutable file upstream into the store; `tee` also streams it to a client. */
  const download = async (
    repo: Repository,
    spec: ImmutableSpec,
    onResponse?: (res: Dispatcher.ResponseData, tee: StoreAndClientTee) => void,
  ): Promise<Artifact> => {
    if (negative.has(repo.key, spec.url)) notFoundUpstream(repo, spec.url)
    const res = await sendUpstream({ url: spec.url, headers: headersFor(repo, spec.url, spec.headers), timeoutMs, dispatcher })
    if (res.statusCode === 404 || res.statusCode === 410) {
      res.body.resume()
      negative.add(repo.key, spec.url, negativeTtlOf(repo))
      notFoundUpstream(repo, spec.url)
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      res.body.resume()
      throw new UpstreamUnavailableError(`upstream ${redact(spec.url)} answered ${res.statusCode}`, { upstreamStatus: res.statusCode })
    }
    const max = Math.min(maxFileBytes(repo), spec.maxBytes ?? Infinity)
    const announced = header(res.headers, 'content-length')
    const expectedSize = announced !== undefined && /^\d+$/.test(announced) ? Number(announced) : undefined
    if (expectedSize !== undefined && expectedSize > max) {
      res.body.destroy()
      throw new UpstreamInvalidError(`upstream ${redact(spec.url)} announced ${expectedSize} bytes, more than the ${max} allowed`)
    }
    const tee = new StoreAndClientTee(TEE_HIGH_WATER_MARK, timeoutMs)
    const { sha512, ...expected } = spec.expected ?? {}
    const ingesting = blobs.ingest(tee.store, { maxBytes: max, expectedSize, expected })
    // No client to stream to (fetchImmutable, HEAD): drop the client branch at once, or the tee
    // would wait clientStallMs for a reader once more than its high-water mark is buffered.
    if (onResponse) onResponse(res, tee)
    else tee.client.destroy()
    const pumping = pipeline(res.body, tee)
    let digests: BlobDigests
    try {
      const [d] = await Promise.all([ingesting, pumping])
      digests = d
      if (sha512 !== undefined && sha512.toLowerCase() !== digests.sha512) {
        throw new UpstreamInvalidError(`sha512 of ${redact(spec.url)} is ${digests.sha512}, its metadata said ${sha512}`)
      }
    } catch (err) {
      const failure =
        expectedSize !== undefined && tee.bytes < expectedSize && !(err instanceof AkError)
          ? new UpstreamInvalidError(`upstream ${redact(spec.url)} ended after ${tee.bytes} of the ${expectedSize} bytes it announced`)
          : ingestFailure(err, spec.url)
      tee.destroy(failure)
      tee.fail(failure)
      await ingesting.catch(() => undefined)
      throw failure
    }
    const contentType = spec.contentType ?? header(res.headers, 'content-type') ?? 'application/octet-stream'
    const properties: Record<string, unknown> = { ...(spec.properties ?? {}), fetchedAt: Date.now(), upstreamUrl: spec.url }
    const { artifact } = artifacts.put({ repo: repo.key, path: spec.path, blob: digests, contentType, properties, overwrite: true })
    tee.release()
    return artifact
  }

  /** Sends the stored file; false when its bytes are nowhere to be had (then nothing was sent). */
  const serveStored = async (request: FastifyRequest, reply: FastifyReply, repo: Repository, artifact: Artifact, cache: CacheStatus): Promise<boolean> => {
    const blob = blobIndex.get(artifact.sha256)
    if (!blob) return false
    try {
      cacheHeaders(reply, cache)
      await sendBlob(request, reply, blobs, {
        blob,
        contentType: artifact.contentType ?? 'application/octet-stream',
        lastModified: artifact.updatedAt,
        serveActiveContent: servesActiveContent(repo),
      })
      return true
    } catch (err) {
      if (!isMissingBytes(err) || reply.sent) throw err
      for (const h of WEAK_FIELDS) reply.removeHeader(h)
      reply.removeHeader(CACHE_STATUS_HEADER)
      reply.code(200)
      return false
    }
  }

  const engine: RemoteEngine = {
    upstream: upstreamOf,
    upstreamUrl: (repo, relative) => joinUpstream(upstreamOf(repo), relative),

    async fetchMutable(repo, spec) {
      const stored = artifacts.get(repo.key, spec.path)
      if (stored) {
        const fetchedAt = remoteProps(stored)?.fetchedAt ?? 0
        if (Date.now() - fetchedAt < ttlOf(repo)) {
          const hit = await storedResult(stored, 'HIT')
          if (hit) return hit
          // A fresh row whose bytes no one could give (the swarm found no holder): a conditional
          // request would only earn a 304 for bytes still missing, and a second swarm wait.
          return singleFlight(`m\0${repo.key}\0${spec.path}`, () => refresh(repo, spec, undefined))
        }
      }
      return singleFlight(`m\0${repo.key}\0${spec.path}`, () => refresh(repo, spec, artifacts.get(repo.key, spec.path)))
    },

    async serveImmutable(request, reply, repo, spec) {
      const stored = artifacts.get(repo.key, spec.path)
      if (stored && (await serveStored(request, reply, repo, stored, 'HIT'))) return reply
      const key = `i\0${repo.key}\0${spec.path}`
      const running = flights.get(key) as Promise<Artifact> | undefined
      if (running || request.method === 'HEAD') {
        // Followers (and HEAD) wait for the stored file, then read it from the store.
        const artifact = await (running ?? engine.fetchImmutable(repo, spec))
        if (await serveStored(request, reply, repo, artifact, 'MISS')) return reply
        throw new UpstreamUnavailableError(`the bytes of '${spec.path}' vanished right after they were fetched`)
      }
      // The leader streams the upstream body to its client while the store ingests it.
      let started: (() => void) | undefined
      let failedEarly: ((err: unknown) => void) | undefined
      const headersReady = new Promise<void>((resolve, reject) => {
        started = resolve
        failedEarly = reject
      })
      const flight = singleFlight(key, () =>
        download(repo, spec, (res, tee) => {
          cacheHeaders(reply, 'MISS')
          // The upstream's type, neutralised as a stored file's would be (active-content.ts).
          reply.headers(artifactHeaders(spec.contentType ?? header(res.headers, 'content-type') ?? 'application/octet-stream', servesActiveContent(repo)))
          const length = header(res.headers, 'content-length')
          if (length !== undefined) reply.header('content-length', length)
          reply.send(tee.client)
          started?.()
        }),
      )
      flight.catch((err: unknown) => failedEarly?.(err))
      await headersReady
      // The response is under way; its end (or cut) follows the download.
      await flight.catch(() => undefined)
      return reply
    },

    async joinDownload(request, reply, repo, path) {
      const running = flights.get(`i\0${repo.key}\0${path}`) as Promise<Artifact> | undefined
      if (!running) return false
      const artifact = await running
      if (await serveStored(request, reply, repo, artifact, 'MISS')) return true
      throw new UpstreamUnavailableError(`the bytes of '${path}' vanished right after they were fetched`)
    },

    async fetchImmutable(repo, spec) {
      const stored = artifacts.get(repo.key, spec.path)
      if (stored) {
        const blob = blobIndex.get(stored.sha256)
        if (blob && (await blobs.stat(blob.sha256).catch(() => undefined))) return stored
      }
      return singleFlight(`i\0${repo.key}\0${spec.path}`, () => download(repo, spec))
    },
  }
  return engine
}
