import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { streamRawBodies } from '../core/index.ts'
import { UnauthorizedError } from '../../store/index.ts'
import { OCI_FORMAT, UPLOADS_DIR } from './constants.ts'
import { ociErrorHandler, UnsupportedError } from './errors.ts'
import { matchRoute } from './names.ts'
import { createOciIndex } from './oci-db.ts'
import { OciRegistry } from './registry.ts'
import { blobRoutes } from './routes-blobs.ts'
import { listingRoutes } from './routes-listing.ts'
import { manifestRoutes } from './routes-manifests.ts'
import { remoteRoutes } from './remote.ts'
import { UploadManager } from './uploads.ts'

export { OCI_FORMAT, MAX_MANIFEST_BYTES, MAX_UPLOAD_SESSIONS, UPLOAD_IDLE_TTL } from './constants.ts'
export { WIRE_ERRORS, OCI_ERROR_CODES, ALL_DOMAIN_CODES, toOciError } from './errors.ts'
export { parseManifest, type ParsedManifest, type Descriptor } from './manifest.ts'
export { parseName, isImageName, parseReference, parseDigest, matchRoute, TAG, type Route, type OciName } from './names.ts'
export { paginate, parsePage, mergeSorted } from './pagination.ts'
export { parseContentRange } from './routes-blobs.ts'
export { UploadManager, uploadSweepInterval, type UploadSession, type UploadManagerInit } from './uploads.ts'
export { isOciMutablePath, ociPathProblem, ociReplicationHooks } from './replication.ts'
export { UpstreamAuth, parseChallenge, type Challenge, type UpstreamAuthInit } from './remote-auth.ts'
export { upstreamName } from './remote-index.ts'

/** The path of a request URL as the client sent it: no query, `..` and `%2e` left as they are. */
function rawPath(url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

/**
 * Sends a JSON media type exactly as the specs name it. Fastify appends `; charset=utf-8` to
 * every JSON type it serialises, but OCI and Docker media types have no parameters (image-spec
 * media-types.md), clients and the conformance suite compare them as strings, and JSON has no
 * charset parameter at all (RFC 8259 §11): so manifests, indexes, referrers, tags lists, the
 * catalog and errors all go out without one.
 */
function exactMediaType(reply: FastifyReply): void {
  const type = reply.getHeader('content-type')
  if (typeof type !== 'string') return
  const exact = type.replace(/\s*;\s*charset=utf-8\s*$/i, '')
  if (exact !== type && /[/+]json$/i.test(exact)) reply.header('content-type', exact)
}

/**
 * OCI Distribution Spec 1.1 at /v2/: the first segment of an image name is the repository
 * (`/v2/{repo}/{image…}/manifests/{ref}`). Blobs, manifests and tags are artifacts of the
 * repository; the oci_* tables index them. Docker token auth: /v2/token hands out the node's
 * bearer JWTs, and Basic credentials work directly too.
 */
export function ociFormat(ctx: FormatContext) {
  return async function ociPlugin(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)
    const index = createOciIndex(ctx.db)
    const registry = new OciRegistry(ctx, index)
    const uploads = new UploadManager({
      dir: join(ctx.tempDir, UPLOADS_DIR),
      idleTtlMs: ctx.uploadSessions.idleTtlMs,
      maxPerOwner: ctx.uploadSessions.maxPerUser,
    })
    app.addHook('onClose', async () => uploads.close())
    const blobs = blobRoutes({ registry, uploads, failed: (reason) => ctx.uploadFailed(OCI_FORMAT, reason) })
    const manifests = manifestRoutes(registry)
    const listing = listingRoutes(registry)
    const remote = remoteRoutes(registry)

    /** The OCI name a request is about, for the scope of its 401 challenge. */
    const scopeOf = new WeakMap<FastifyRequest, string>()
    const challenge = (request: FastifyRequest) => {
      const realm = `${ctx.baseUrl(request)}/v2/token`
      const name = scopeOf.get(request) ?? nameIn(request.url)
      const actions = request.method === 'GET' || request.method === 'HEAD' ? 'pull' : 'pull,push'
      // Only a name of OCI characters goes into the header (the URL's may not have been validated).
      const scope = name && /^[a-z0-9._/-]+$/.test(name) ? `,scope="repository:${name}:${actions}"` : ''
      return `Bearer realm="${realm}",service="${request.host}"${scope}`
    }
    /** The name in a URL, when a request fails before routing (bad credentials in the auth hook). */
    const nameIn = (url: string) => {
      try {
        return matchRoute(rawPath(url).slice(app.prefix.length + 1)).name
      } catch {
        return undefined
      }
    }
    app.setErrorHandler(ociErrorHandler({ challenge }))
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header('docker-distribution-api-version', 'registry/2.0')
      exactMediaType(reply)
      return payload
    })

    /**
     * GET /v2/: the API version check. A client without credentials is told how to get a token
     * (Docker clients always probe here first and learn the auth scheme from the challenge).
     */
    app.get('/', async (request, reply) => {
      if (!request.headers.authorization) throw new UnauthorizedError('authentication required')
      return reply.send({})
    })

    /**
     * GET /v2/token (Docker token auth): whoever the request authenticated as (Basic, an API
     * token, or nobody) gets a short-lived bearer token that the node's auth accepts.
     */
    app.get('/token', async (request, reply) => {
      const { token, expiresInSeconds } = await ctx.issueBearer(request)
      return reply.header('cache-control', 'no-store').send({
        token,
        access_token: token,
        expires_in: expiresInSeconds,
        issued_at: new Date().toISOString(),
      })
    })

    app.get('/_catalog', (request, reply) => listing.catalog(request, reply))

    const dispatch = async (request: FastifyRequest, reply: FastifyReply) => {
      const url = new URL(request.url, 'http://localhost')
      const route = matchRoute(rawPath(request.url).slice(app.prefix.length + 1))
      scopeOf.set(request, route.name)
      // Who may not read the repository is refused here, the same whether or not it exists.
      registry.readable(request, route.name)
      const query = url.searchParams
      // A remote repository is a pull-through cache of its upstream (remote.ts).
      if (remote.owns(route.name)) return remote.dispatch(request, reply, route, query)
      const m = request.method
      if ((m === 'GET' || m === 'HEAD') && (route.kind === 'manifest' || route.kind === 'blob') && remote.hasRemoteMembers(request, route.name)) {
        return remote.throughMembers(request, reply, route, () =>
          route.kind === 'manifest' ? manifests.get(request, reply, route.name, route.reference) : blobs.get(request, reply, route.name, (route as { digest: string }).digest),
        )
      }
      switch (route.kind) {
        case 'manifest':
          if (m === 'GET' || m === 'HEAD') return manifests.get(request, reply, route.name, route.reference)
          if (m === 'PUT') return manifests.put(request, reply, route.name, route.reference)
          if (m === 'DELETE') return manifests.remove(request, reply, route.name, route.reference)
          break
        case 'blob':
          if (m === 'GET' || m === 'HEAD') return blobs.get(request, reply, route.name, route.digest)
          if (m === 'DELETE') return blobs.remove(request, reply, route.name, route.digest)
          break
        case 'uploads':
          if (m === 'POST') return blobs.start(request, reply, route.name, query)
          break
        case 'upload':
          if (m === 'GET') return blobs.status(request, reply, route.name, route.uuid)
          if (m === 'PATCH') return blobs.patch(request, reply, route.name, route.uuid)
          if (m === 'PUT') return blobs.finish(request, reply, route.name, route.uuid, query)
          if (m === 'DELETE') return blobs.cancel(request, reply, route.name, route.uuid)
          break
        case 'tags':
          if (m === 'GET') return listing.tags(request, reply, route.name, query)
          break
        case 'referrers':
          if (m === 'GET') return listing.referrers(request, reply, route.name, route.digest, query)
          break
      }
      throw new UnsupportedError(`${m} is not supported on ${url.pathname}`)
    }
    app.route({ method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'], url: '/*', handler: dispatch })
  }
}
