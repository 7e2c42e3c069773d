import type { FastifyReply, FastifyRequest } from 'fastify'
import { cacheHeaders, isMissingBytes, readOrder, REMOTE_METADATA_DIR, remoteEngine, sendBlob, type CacheStatus } from '../core/index.ts'
import { DEFAULT_UPSTREAM_TIMEOUT, defaultDispatcher, upstreamOf } from '../core/remote/index.ts'
import { AkError, NotFoundError, UpstreamInvalidError, type BlobRecord, type Repository } from '../../store/index.ts'
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, MAX_MANIFEST_BYTES, OCI_FORMAT, OCI_INDEX, OCI_MANIFEST } from './constants.ts'
import { BlobUnknownError, ManifestUnknownError, NameUnknownError, UnsupportedError } from './errors.ts'
import { parseManifest, type ParsedManifest } from './manifest.ts'
import { parseDigest, parseName, parseReference, type OciName, type Route } from './names.ts'
import { compareCodeUnits, paginate, parsePage } from './pagination.ts'
import { blobPath, manifestPath, tagPath, type OciRegistry } from './registry.ts'
import { UpstreamAuth } from './remote-auth.ts'
import { manifestProperties, oneManifestIndex, parseTagList, readStoredManifest, upstreamName } from './remote-index.ts'

/**
 * Remote (pull-through cache) OCI repositories: `/v2/<remote>/<image>/…` reads go to the
 * upstream registry through the node's remote engine (formats/core/remote; docs/remote.md § OCI).
 *
 * - Blobs and manifests by digest are immutable: stored for good at the paths a push uses
 *   (`_blobs/sha256/<hex>`, `<image>/_manifests/sha256/<hex>`), verified against their digest
 *   before anything is committed; a blob streams to its first client while it is stored.
 * - A tag is mutable: `<image>/_tags/<tag>` holds the bytes of the manifest it names (as after a
 *   push), revalidated after the repository's TTL, served stale when the upstream fails.
 * - What is fetched is indexed into the oci_* tables as a push would be, so tags/list and
 *   referrers answer from the cache, and the artifacts replicate like any other.
 */

/** Accept header of upstream manifest requests: every manifest type this registry understands. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ')
const BLOB_CONTENT_TYPE = 'application/octet-stream'

export interface RemoteRoutes {
  /** Whether `name` (`<repo>/<image>`) names an image of a remote OCI repository of this node. */
  owns(name: string): boolean
  /** Handles a request for such a name: reads go upstream, writes are refused. */
  dispatch(request: FastifyRequest, reply: FastifyReply, route: Route, query: URLSearchParams): Promise<FastifyReply>
  /** Whether `name` is in a virtual OCI repository with at least one remote member the caller may read. */
  hasRemoteMembers(request: FastifyRequest, name: string): boolean
  /**
   * GET/HEAD of a manifest or blob through such a virtual repository. A tag resolves in member
   * order (a remote member's tag fetched or revalidated like a direct read); a digest is served
   * by `local` (whatever any member holds) and, when none holds it, by the remote members' upstreams.
   */
  throughMembers(request: FastifyRequest, reply: FastifyReply, route: Route, local: () => Promise<FastifyReply>): Promise<FastifyReply>
}

/** Whether an error is the upstream refusing our credentials (an expired or revoked token). */
const refused = (err: unknown) => err instanceof AkError && err.details?.upstreamStatus === 401

export function remoteRoutes(registry: OciRegistry): RemoteRoutes {
  const { ctx, index } = registry
  const engine = remoteEngine(ctx)
  const auth = new UpstreamAuth({
    dispatcher: ctx.remote?.dispatcher ?? defaultDispatcher({ allowPrivate: ctx.remote?.allowPrivateAddresses }),
    timeoutMs: ctx.remote?.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT,
  })

  const remoteRepo = (key: string): Repository | undefined => {
    const repo = ctx.repositories.get(key)
    return repo && repo.format === OCI_FORMAT && repo.type === 'remote' ? repo : undefined
  }

  /** `{registry root}/v2/{upstream name}/{rest}`. */
  const v2Url = (repo: Repository, image: string, rest: string) =>
    `${new URL(upstreamOf(repo).url).origin}/v2/${upstreamName(upstreamOf(repo).url, image)}/${rest}`

  /**
   * Runs `work` with the upstream's auth headers; once more with fresh ones when the upstream
   * says 401. When no token can be had (the upstream is down), `work` still runs without one:
   * the engine then serves what it has stored, stale; if the upstream answers 401 after all,
   * the token failure is the error reported.
   */
  const withAuth = async <T>(repo: Repository, image: string, work: (headers: Record<string, string>) => Promise<T>): Promise<T> => {
    const name = upstreamName(upstreamOf(repo).url, image)
    const attempt = async () => {
      let authFailure: unknown
      const headers = await auth.headers(repo, name).catch((err: unknown) => {
        authFailure = err
        return {}
      })
      try {
        return await work(headers)
      } catch (err) {
        throw refused(err) && authFailure !== undefined ? authFailure : err
      }
    }
    try {
      return await attempt()
    } catch (err) {
      if (!refused(err)) throw err
      auth.forget(repo, name)
      return attempt()
    }
  }

  /** Indexes a fetched manifest (and the tag that named it) as a push would. */
  const record = (repo: Repository, image: string, blob: BlobRecord, parsed: ParsedManifest, tag: string | undefined) => {
    const digest = `sha256:${blob.sha256}`
    ctx.artifacts.transaction(() => {
      const path = manifestPath(image, blob.sha256)
      if (!ctx.artifacts.get(repo.key, path)) {
        ctx.artifacts.put({
          repo: repo.key,
          path,
          blob,
          contentType: parsed.mediaType,
          properties: { ...manifestProperties(digest, parsed), fetchedAt: Date.now(), upstreamUrl: v2Url(repo, image, `manifests/${digest}`) },
          overwrite: false,
        })
      }
      if (!index.manifest(repo.key, image, digest)) {
        index.putManifest({
          repo: repo.key,
          name: image,
          digest,
          mediaType: parsed.mediaType,
          size: blob.size,
          artifactType: parsed.artifactType ?? null,
          subject: parsed.subject?.digest ?? null,
          annotations: parsed.annotations ?? null,
        })
      }
      if (tag !== undefined && index.tag(repo.key, image, tag) !== digest) index.setTag(repo.key, image, tag, digest)
    })
  }

  const serveManifest = (request: FastifyRequest, reply: FastifyReply, blob: BlobRecord, mediaType: string, updatedAt: number, cache: CacheStatus): Promise<FastifyReply> => {
    cacheHeaders(reply, cache)
    return sendBlob(request, reply, ctx.blobs, { blob, contentType: mediaType, lastModified: updatedAt }, { 'docker-content-digest': `sha256:${blob.sha256}` })
  }

  /** A manifest by tag: the mutable tag document, fetched or revalidated through the engine. */
  const manifestByTag = async (request: FastifyRequest, reply: FastifyReply, repo: Repository, name: OciName, tag: string): Promise<FastifyReply> => {
    let result
    try {
      result = await withAuth(repo, name.image, (headers) =>
        engine.fetchMutable(repo, {
          path: tagPath(name.image, tag),
          url: v2Url(repo, name.image, `manifests/${tag}`),
          accept: MANIFEST_ACCEPT,
          headers,
          validate: (body, contentType) => void parseManifest(body, contentType),
        }),
      )
    } catch (err) {
      if (err instanceof NotFoundError) throw new ManifestUnknownError(`manifest '${tag}' of '${name.full}' is unknown upstream`, { name: name.full, reference: tag })
      throw err
    }
    const parsed = parseManifest(await result.body(), result.contentType)
    record(repo, name.image, result.blob, parsed, tag)
    return serveManifest(request, reply, result.blob, parsed.mediaType, result.artifact.updatedAt, result.cache)
  }

  /** A manifest by digest: immutable, verified against its digest, then parsed and indexed. */
  const manifestByDigest = async (request: FastifyRequest, reply: FastifyReply, repo: Repository, name: OciName, digest: string, hex: string): Promise<FastifyReply> => {
    const path = manifestPath(name.image, hex)
    const row = index.manifest(repo.key, name.image, digest)
    const stored = ctx.artifacts.get(repo.key, path)
    const storedBlob = stored ? ctx.blobIndex.get(stored.sha256) : undefined
    if (row && stored && storedBlob) {
      try {
        return await serveManifest(request, reply, storedBlob, row.mediaType, stored.updatedAt, 'HIT')
      } catch (err) {
        // The bytes are neither here nor on a peer: fetch them again below.
        if (!isMissingBytes(err) || reply.sent) throw err
      }
    }
    let artifact
    try {
      artifact = await withAuth(repo, name.image, (headers) =>
        engine.fetchImmutable(repo, {
          path,
          url: v2Url(repo, name.image, `manifests/${digest}`),
          expected: { sha256: hex },
          headers: { ...headers, accept: MANIFEST_ACCEPT },
          maxBytes: MAX_MANIFEST_BYTES,
          properties: { digest },
        }),
      )
    } catch (err) {
      if (err instanceof NotFoundError) throw new ManifestUnknownError(`manifest ${digest} of '${name.full}' is unknown upstream`, { name: name.full, reference: digest })
      throw err
    }
    const blob = ctx.blobIndex.get(artifact.sha256) as BlobRecord
    let parsed: ParsedManifest
    try {
      parsed = parseManifest(await readStoredManifest(ctx.blobs, blob), artifact.contentType ?? undefined)
    } catch (err) {
      // Right digest, but not a manifest this registry can index: it is not kept.
      ctx.artifacts.delete(repo.key, path)
      throw new UpstreamInvalidError(`upstream sent ${digest} of '${name.full}', which is not a usable manifest: ${(err as Error).message}`)
    }
    const properties = { ...artifact.properties, ...manifestProperties(digest, parsed) }
    if (JSON.stringify(properties) !== JSON.stringify(artifact.properties) || artifact.contentType !== parsed.mediaType) {
      // The media type and the referrers fields are known only now: record them (what a peer's index is rebuilt from).
      artifact = ctx.artifacts.put({ repo: repo.key, path, blob, contentType: parsed.mediaType, properties, overwrite: false }).artifact
    }
    record(repo, name.image, blob, parsed, undefined)
    return serveManifest(request, reply, blob, parsed.mediaType, artifact.updatedAt, stored ? 'HIT' : 'MISS')
  }

  /** A layer or config: from the store (mesh first), else streamed from the upstream while it is stored. */
  const blob = async (request: FastifyRequest, reply: FastifyReply, repo: Repository, name: OciName, digest: string): Promise<FastifyReply> => {
    const hex = parseDigest(digest)
    reply.header('docker-content-digest', digest)
    try {
      await withAuth(repo, name.image, (headers) =>
        engine.serveImmutable(request, reply, repo, {
          path: blobPath(hex),
          url: v2Url(repo, name.image, `blobs/${digest}`),
          contentType: BLOB_CONTENT_TYPE,
          expected: { sha256: hex },
          headers,
        }),
      )
    } catch (err) {
      if (err instanceof NotFoundError) throw new BlobUnknownError(`blob ${digest} of '${name.full}' is unknown upstream`, { digest })
      throw err
    }
    return reply
  }

  /**
   * GET tags/list: the upstream's list while it answers (kept as a mutable document); when it
   * does not, that last list together with every tag this node has cached, marked stale.
   */
  const tags = async (_request: FastifyRequest, reply: FastifyReply, repo: Repository, name: OciName, query: URLSearchParams): Promise<FastifyReply> => {
    const page = parsePage(query)
    const cached = index.tags(repo.key, name.image)
    let listed: string[]
    let cache: CacheStatus
    try {
      const result = await withAuth(repo, name.image, (headers) =>
        engine.fetchMutable(repo, {
          path: `${REMOTE_METADATA_DIR}/${name.image}/tags.json`,
          url: v2Url(repo, name.image, 'tags/list'),
          accept: 'application/json',
          headers,
          validate: (body) => void parseTagList(body),
        }),
      )
      cache = result.cache
      listed = parseTagList(await result.body())
      if (cache === 'STALE') listed = [...new Set([...listed, ...cached])]
    } catch (err) {
      if (err instanceof NotFoundError || !index.hasImage(repo.key, name.image)) {
        if (err instanceof NotFoundError) throw new NameUnknownError(`'${name.full}' is unknown upstream`, { name: name.full })
        throw err
      }
      listed = cached
      cache = 'STALE'
    }
    listed.sort(compareCodeUnits)
    const result = paginate(listed, page, `/v2/${name.full}/tags/list`)
    cacheHeaders(reply, cache)
    if (result.link) reply.header('link', result.link)
    return reply.send({ name: name.full, tags: result.items })
  }

  /** GET referrers: the cached manifests whose subject is the digest (never 404). */
  const referrers = async (_request: FastifyRequest, reply: FastifyReply, repo: Repository, name: OciName, digest: string, query: URLSearchParams): Promise<FastifyReply> => {
    parseDigest(digest)
    const filter = query.get('artifactType')
    const rows = index.referrers(repo.key, name.image, digest).filter((r) => !filter || r.artifactType === filter)
    if (filter) reply.header('oci-filters-applied', 'artifactType')
    return reply.type(OCI_INDEX).send(oneManifestIndex(rows))
  }

  const virtualOf = (name: string): Repository | undefined => {
    const slash = name.indexOf('/')
    const repo = slash > 0 ? ctx.repositories.get(name.slice(0, slash)) : undefined
    return repo && repo.format === OCI_FORMAT && repo.type === 'virtual' ? repo : undefined
  }

  /** A member's view of the name the client used through the virtual repository. */
  const memberName = (member: Repository, name: OciName): OciName => ({ full: `${member.key}/${name.image}`, repo: member.key, image: name.image })

  /** Unknown here: the next member may have it. */
  const unknown = (err: unknown) => err instanceof ManifestUnknownError || err instanceof BlobUnknownError

  return {
    hasRemoteMembers(request, name) {
      const repo = virtualOf(name)
      return repo !== undefined && readOrder(ctx, request, repo).some((m) => m.type === 'remote')
    },

    async throughMembers(request, reply, route, local) {
      const name = parseName(route.name)
      const repo = virtualOf(route.name)
      if (!repo || (route.kind !== 'manifest' && route.kind !== 'blob')) return local()
      ctx.authorize(request, repo, 'read')
      const members = readOrder(ctx, request, repo)
      let failure: unknown
      const ref = route.kind === 'manifest' ? parseReference(route.reference) : undefined
      if (ref?.kind === 'tag') {
        for (const member of members) {
          try {
            if (member.type === 'remote') return await manifestByTag(request, reply, member, memberName(member, name), ref.tag)
            const found = registry.findManifest({ name, repo: member, members: [member] }, ref.tag)
            return await serveManifest(request, reply, found.blob, found.row.mediaType, found.artifact.updatedAt, 'HIT')
          } catch (err) {
            if (reply.sent) throw err
            // A remote member that fails is skipped while another member has the tag.
            if (!unknown(err)) failure ??= err
          }
        }
        throw failure ?? new ManifestUnknownError(`manifest '${ref.tag}' of '${name.full}' is unknown`, { name: name.full, reference: ref.tag })
      }
      let missing: unknown
      try {
        return await local()
      } catch (err) {
        if (reply.sent || !unknown(err)) throw err
        missing = err
      }
      for (const member of members) {
        if (member.type !== 'remote') continue
        try {
          if (ref?.kind === 'digest') return await manifestByDigest(request, reply, member, memberName(member, name), ref.digest, ref.hex)
          if (route.kind === 'blob') return await blob(request, reply, member, memberName(member, name), route.digest)
        } catch (err) {
          if (reply.sent) throw err
          if (!unknown(err)) failure ??= err
        }
      }
      throw failure ?? missing
    },

    owns(name) {
      const slash = name.indexOf('/')
      return slash > 0 && remoteRepo(name.slice(0, slash)) !== undefined
    },

    async dispatch(request, reply, route, query) {
      const name = parseName(route.name)
      const repo = remoteRepo(name.repo)
      if (!repo) throw new NameUnknownError(`repository '${name.repo}' of '${name.full}' is not a remote OCI repository`, { name: name.full })
      ctx.authorize(request, repo, 'read')
      const m = request.method
      const read = m === 'GET' || m === 'HEAD'
      if (route.kind === 'manifest' && read) {
        const ref = parseReference(route.reference)
        return ref.kind === 'tag' ? manifestByTag(request, reply, repo, name, ref.tag) : manifestByDigest(request, reply, repo, name, ref.digest, ref.hex)
      }
      if (route.kind === 'blob' && read) return blob(request, reply, repo, name, route.digest)
      if (route.kind === 'tags' && m === 'GET') return tags(request, reply, repo, name, query)
      if (route.kind === 'referrers' && m === 'GET') return referrers(request, reply, repo, name, route.digest, query)
      // distribution-spec § Error Codes: UNSUPPORTED, "the operation is unsupported" (405).
      if (!request.raw.complete) request.raw.resume()
      throw new UnsupportedError(`'${repo.key}' is a remote repository (a read-only cache of its upstream): push and delete through a local repository`)
    },
  }
}
