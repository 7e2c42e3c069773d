import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { SECOND, type ClientBodyLimits, type Store } from '../store/index.ts'
import type { NodeIdentity } from '../mesh/index.ts'
import type { FormatContext } from '../formats/core/index.ts'
import { FORMATS, FORMAT_NAMES } from './formats.ts'
import { goUploadApi } from '../formats/go/index.ts'
import { generateToken } from './auth/tokens.ts'
import type { Config } from './config.ts'
import { lockDataDir } from './data-dir.ts'
import { openDataDir } from './open.ts'
import { AuthService, ANONYMOUS, ANONYMOUS_SUBJECT } from './auth/auth-service.ts'
import { loadSessionSigner } from './auth/sessions.ts'
import { hashPassword, randomPassword } from './auth/passwords.ts'
import { nodeErrorHandler, toWireError } from './http-errors.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import type { ApiContext } from './api/context.ts'
import { repositoryRoutes } from './api/repositories.ts'
import { userRoutes } from './api/users.ts'
import { tokenRoutes } from './api/tokens.ts'
import { permissionRoutes } from './api/permissions.ts'
import { meshRoutes } from './api/mesh.ts'
import { meshContentRoutes } from './api/mesh-content.ts'
import { meshPeerRoutes } from './api/mesh-peers.ts'
import { replicationRoutes } from './api/replication.ts'
import { chunkRoutes } from './api/chunks.ts'
import { createNodeMesh, type NodeMesh } from './mesh.ts'
import { createScheduler, type Scheduler, type SourceDirectory, type SourceFeedback } from '../scheduler/index.ts'
import { createBlobGateway } from './blob-gateway.ts'
import { transferRoutes } from './api/transfers.ts'
import { createUploadLimit, limitBlobReads, limitServedChunks } from './upload-limit.ts'
import { guardParsedBodies } from './body-guard.ts'
import { BEARER_TTL, DEFAULT_MAX_JSON_BYTES, INITIAL_ADMIN_PASSWORD_FILE } from './constants.ts'

export interface RegistryNode {
  app: FastifyInstance
  store: Store
  identity: NodeIdentity
  metrics: Metrics
  /** Gets blobs this node lacks (lazy reads through the formats, eager replication, transfers). */
  scheduler: Scheduler
  config: Config
  /** Every route the HTTP server registered (URL patterns as fastify has them), in order. */
  routes(): readonly NodeRoute[]
  /** Starts listening; resolves with the URL. */
  listen(): Promise<string>
  /** Graceful stop: refuses new requests, lets in-flight ones finish within shutdownTimeoutMs. */
  close(): Promise<void>
}

/** One registered route: its method and URL pattern (`/npm/:repo/:name`). */
export interface NodeRoute {
  method: string
  url: string
}

export interface CreateNodeOptions {
  /**
   * Where the scheduler finds sources and reports on them, instead of the mesh's directory and
   * peer profiles (tests and embedders). @default the mesh's, or no sources while the mesh is off
   */
  swarm?: { directory: SourceDirectory; feedback?: SourceFeedback }
  /** Hold the data-dir lock and clean temp files (a serving node). @default true */
  exclusive?: boolean
  logger?: Logger | boolean
}

/**
 * Composition root: opens the data directory, bootstraps the admin user, builds the HTTP
 * server with auth, metrics, the management API and every format.
 */
export async function createNode(config: Config, options: CreateNodeOptions = {}): Promise<RegistryNode> {
  const exclusive = options.exclusive ?? true
  const unlock = exclusive ? lockDataDir(config.dataDir) : () => {}
  let store: Store | undefined
  try {
    const opened = await openDataDir(config)
    store = opened.store
    const { identity } = opened
    const app = Fastify({
      logger: options.logger === undefined ? { level: config.logLevel } : (options.logger as boolean),
      bodyLimit: DEFAULT_MAX_JSON_BYTES,
      routerOptions: { maxParamLength: 2048 },
      forceCloseConnections: 'idle',
      return503OnClosing: true,
      requestTimeout: 0,
      keepAliveTimeout: 72_000,
      // request.ip (login throttling, logs) honours X-Forwarded-For only from these proxies.
      ...(config.http.trustedProxies.length > 0 ? { trustProxy: config.http.trustedProxies } : {}),
      clientErrorHandler(err, socket) {
        // Malformed HTTP (e.g. more body bytes than Content-Length announced, parsed as a next
        // request): answer in JSON and close, instead of Node's bare 400.
        if (!socket.writable) return socket.destroy()
        const body = JSON.stringify({ error: 'AK_BAD_REQUEST', message: `malformed HTTP request: ${(err as Error).message}` })
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        )
      },
    })
    const log = app.log
    // Collected before any route exists: the authorisation matrix test walks this list, so a
    // route added later without an expected answer fails it.
    const routes: NodeRoute[] = []
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) routes.push({ method, url: route.url })
    })

    const removed = exclusive ? await store.blobs.cleanTemp() : 0
    if (removed > 0) log.info({ removed }, 'removed leftovers of unfinished uploads')

    const space = store.space
    const metrics = createMetrics(store.blobIndex, space)
    const sessions = await loadSessionSigner(config.dataDir)
    const auth = new AuthService(store.auth, sessions, {
      ...config.auth,
      onFailure: (f) => {
        metrics.authFailures.inc({ reason: f.reason })
        log.warn({ authFailure: f.reason, user: f.user, address: f.address }, 'credentials refused')
      },
    })
    await bootstrapAdmin(store, config, log)

    space.onChange((low, freeBytes) => {
      if (low) log.error({ freeBytes, minFreeBytes: space.minFreeBytes }, 'data directory short of space: uploads refused (507), /ready 503')
      else log.info({ freeBytes, minFreeBytes: space.minFreeBytes }, 'data directory has space again: uploads accepted')
    })
    if (space.low) log.error({ freeBytes: space.freeBytes, minFreeBytes: space.minFreeBytes }, 'data directory short of space: uploads refused (507), /ready 503')
    /** What every client body must keep up: the formats' reads and the JSON API's (body-guard.ts). */
    const clientBody: ClientBodyLimits = {
      idleTimeoutMs: config.http.bodyIdleTimeoutMs,
      minBytesPerSecond: config.limits.minUploadBytesPerSecond,
      rateWindowMs: config.limits.slowUploadWindowSeconds * SECOND,
    }

    // One bucket on all blob egress (chunks to peers and blob GETs): limits.uploadMaxBytesPerSecond.
    const upload = createUploadLimit(config.limits.uploadMaxBytesPerSecond, (path, bytes) => metrics.blobEgress.inc({ path }, bytes))
    /** Socket → its bytesRead already added to ak_http_bytes_in_total (keep-alive sockets carry many requests). */
    const bytesInCounted = new WeakMap<object, number>()
    app.decorateRequest('principal', null as never)
    app.addHook('onRequest', async (request) => {
      request.principal = ANONYMOUS
      request.principal = await auth.authenticate(request.headers.authorization, request.ip)
    })
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched'
      metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) })
      metrics.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000)
      const sent = Number(reply.getHeader('content-length') ?? 0)
      if (request.method !== 'HEAD' && sent > 0) metrics.bytesOut.inc(sent)
      // What the socket really delivered since the last response on it: counts chunked bodies
      // (no Content-Length) and never the unread rest of a refused body. inject() has no socket.
      const socket = request.raw.socket as { bytesRead?: number } | undefined
      if (typeof socket?.bytesRead === 'number') {
        metrics.bytesIn.inc(Math.max(0, socket.bytesRead - (bytesInCounted.get(socket) ?? 0)))
        bytesInCounted.set(socket, socket.bytesRead)
      } else if (request.headers['content-length']) {
        metrics.bytesIn.inc(Number(request.headers['content-length']) || 0)
      }
    })
    // No response of this node is for a browser to second-guess: every one, API, errors and 404s
    // included, says nosniff. Artifact responses add their sandboxing CSP (formats/core/active-content.ts).
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header('x-content-type-options', 'nosniff')
      return payload
    })
    app.setErrorHandler(nodeErrorHandler(auth))
    app.setNotFoundHandler((request, reply) => {
      reply.code(404).send({ error: 'AK_NOT_FOUND', message: `no route for ${request.method} ${request.url.split('?')[0]}` })
    })

    app.get('/health', async () => ({ status: 'ok' }))
    app.get('/ready', async (_request, reply) => {
      // Short of space: balancers should send uploads elsewhere until it returns (checked again every few seconds).
      const short = space.reason
      if (short !== undefined) {
        return reply.code(503).send({
          error: 'AK_INSUFFICIENT_STORAGE',
          message: `not ready: ${short}`,
          details: { freeBytes: space.freeBytes, minFreeBytes: space.minFreeBytes },
        })
      }
      try {
        store?.check()
        await store?.blobs.driver.check()
        return { status: 'ready', storage: store?.blobs.driver.kind }
      } catch (err) {
        return reply.code(503).send({ error: 'AK_STORAGE_ERROR', message: `not ready: ${(err as Error).message}` })
      }
    })
    app.get('/metrics', async (_request, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    })

    const apiCtx: ApiContext = { store, auth, sessions, config, formats: FORMAT_NAMES }
    // Built now (config errors surface before listening), started after the HTTP server.
    /** The URL this node listens on (set by listen()), advertised to peers for the HTTP chunk transport. */
    let listeningUrl: string | undefined
    // The scheduler is built before the mesh (which serves its LocalChunks to peers) and reads
    // the mesh's directory and profiles late, through `meshRef`.
    const meshRef: { current?: NodeMesh } = {}
    const scheduler = createScheduler({
      blobs: store.blobs,
      blobIndex: store.blobIndex,
      remoteBlobs: store.remoteBlobs,
      partialDir: join(config.dataDir, 'partial'),
      directory: options.swarm?.directory ?? { sources: async (sha256, signal) => (meshRef.current ? meshRef.current.directory.sources(sha256, signal) : []) },
      feedback: options.swarm?.feedback ?? {
        estimate: (source) => meshRef.current?.profiles.estimate(source) ?? {},
        transferred: (source, bytes, ms) => meshRef.current?.profiles.transferred(source, bytes, ms),
        failed: (source, reason) => meshRef.current?.profiles.failed(source, reason),
      },
      limits: {
        maxConcurrentDownloads: config.swarm.maxDownloads,
        globalBytesPerSecond: config.swarm.maxBytesPerSecond,
        perSourceBytesPerSecond: config.swarm.peerMaxBytesPerSecond,
      },
      logger: log.child({ component: 'scheduler' }),
      observer: {
        chunkReceived: (source, bytes) => metrics.swarmBytes.inc({ kind: source.kind }, bytes),
        chunkFailed: (source, reason) => metrics.swarmChunksFailed.inc({ kind: source.kind, reason }),
      },
    })
    const mesh: NodeMesh | undefined = exclusive
      ? await createNodeMesh(config, identity, store, log.child({ component: 'mesh' }), {
          httpUrl: () => listeningUrl,
          local: limitServedChunks(scheduler.local, upload),
          // Eager repositories fetch new blobs as their events arrive; lazy ones on first read.
          onRemoteBlobs: (blobs) => {
            for (const b of blobs) {
              void (async () => {
                // The same bytes may have been uploaded here while the event was applied (the
                // upload's own blob row came second): then they are held, not remote.
                if (await s.blobs.stat(b.sha256)) {
                  s.remoteBlobs.forget(b.sha256)
                  return
                }
                if (b.mode === 'eager') await scheduler.fetch(b.sha256)
              })().catch((err: unknown) => log.warn({ err, sha256: b.sha256, repo: b.repo }, 'eager blob fetch failed'))
            }
          },
        })
      : undefined
    meshRef.current = mesh
    await app.register(
      async (api) => {
        guardParsedBodies(api, clientBody)
        await api.register(repositoryRoutes(apiCtx))
        await api.register(userRoutes(apiCtx))
        await api.register(tokenRoutes(apiCtx))
        await api.register(permissionRoutes(apiCtx))
        await api.register(meshRoutes(apiCtx, { peerId: identity.peerId, host: () => mesh?.host, lag: () => mesh?.sync.lag() }))
        await api.register(meshContentRoutes(apiCtx, { content: () => mesh?.content }))
        await api.register(meshPeerRoutes(apiCtx, { profiles: () => mesh?.profiles }))
        await api.register(replicationRoutes(apiCtx, { stats: () => mesh?.sync.stats() }))
        await api.register(transferRoutes(apiCtx, { transfers: () => scheduler.transfers() }))
        await api.register(
          chunkRoutes(() =>
            mesh ? { local: mesh.servedChunks, peerTokens: mesh.peerTokens, penalise: (peer) => mesh.host.penalties.penalise(peer, 'malformed') } : undefined,
          ),
        )
      },
      { prefix: '/api/v1' },
    )

    const s = store
    const formatCtx: FormatContext = {
      repositories: s.repositories,
      artifacts: s.artifacts,
      // Blobs known from replication but not held here are fetched through the swarm on read.
      blobs: limitBlobReads(createBlobGateway(s.blobs, s.blobIndex, s.remoteBlobs, scheduler), upload),
      blobIndex: s.blobIndex,
      db: s.db,
      pointers: s.pointers,
      tempDir: join(config.dataDir, 'tmp'),
      authorize: (request, repo, action) => auth.authorize(request.principal, repo, action),
      can: (request, repo, action) => auth.can(request.principal, repo, action),
      userName: (request) => (request.principal.kind === 'user' ? request.principal.name : null),
      maxUploadBytes: config.limits.maxUploadBytes,
      clientBody,
      uploadSessions: { idleTtlMs: config.limits.uploadSessionTtlSeconds * SECOND, maxPerUser: config.limits.maxUploadSessions },
      baseUrl: (request: FastifyRequest) => config.http.publicUrl?.replace(/\/$/, '') ?? `${request.protocol}://${request.host}`,
      uploadFailed: (format, reason) => metrics.uploadErrors.inc({ format, reason }),
      remote: config.remote,
      login: async (request, name, password) => void (await auth.login(name, password, request.ip)),
      createToken: (user, label) => {
        const g = generateToken()
        s.auth.createToken({
          id: g.id,
          user,
          name: label,
          secretHash: g.secretHash,
          repos: ['*'],
          access: 'write',
          expiresAt: null,
          createdAt: Date.now(),
        })
        return g.token
      },
      revokeCallerToken: (request) => {
        const p = request.principal
        if (p.kind === 'user' && p.token) s.auth.deleteToken(p.token.id)
      },
      issueBearer: async (request) => {
        const p = request.principal
        const ttl = Math.min(config.auth.sessionTtlMs, BEARER_TTL)
        const { token } = await sessions.issue(p.kind === 'user' ? p.name : ANONYMOUS_SUBJECT, ttl)
        return { token, expiresInSeconds: Math.floor(ttl / 1000) }
      },
    }
    for (const f of FORMATS) await app.register(f.plugin(formatCtx), { prefix: f.prefix })
    // Go module versions are uploaded through the management API (the go command only reads).
    await app.register(goUploadApi(formatCtx), { prefix: '/api/v1/go' })

    let gcTimer: NodeJS.Timeout | undefined
    if (exclusive && config.gc.intervalMs > 0) {
      gcTimer = setInterval(() => {
        s.gc({ graceMs: config.gc.graceMs })
          .then((r) => {
            if (r.blobsDeleted + r.orphanObjectsDeleted > 0) log.info(r, 'garbage collected')
          })
          .catch((err: unknown) => log.error({ err }, 'garbage collection failed'))
      }, config.gc.intervalMs)
      gcTimer.unref()
    }

    let closed = false
    const node: RegistryNode = {
      app,
      store: s,
      identity,
      metrics,
      scheduler,
      config,
      routes: () => routes,
      async listen() {
        const url = await app.listen({ host: config.http.host, port: config.http.port })
        const address = app.server.address()
        const port = typeof address === 'object' && address ? address.port : config.http.port
        const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host
        const printable = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
        listeningUrl = printable
        if (mesh) await mesh.start()
        log.info({ url: printable, peerId: identity.peerId, storage: s.blobs.driver.kind, dataDir: config.dataDir }, 'listening')
        void url
        return printable
      },
      async close() {
        if (closed) return
        closed = true
        clearInterval(gcTimer)
        const deadline = setTimeout(() => {
          log.warn('shutdown timeout reached; closing remaining connections')
          app.server.closeAllConnections()
        }, config.shutdownTimeoutMs)
        deadline.unref()
        try {
          await mesh?.stop().catch((err: unknown) => log.error({ err }, 'mesh stop failed'))
          await app.close()
        } finally {
          clearTimeout(deadline)
          await scheduler.close().catch((err: unknown) => log.error({ err }, 'scheduler stop failed'))
          s.close()
          unlock()
        }
      },
    }
    return node
  } catch (err) {
    store?.close()
    unlock()
    throw err
  }
}

/** First start: create `admin`, with AK_ADMIN_PASSWORD or a random password written to a 0600 file (never logged). */
async function bootstrapAdmin(store: Store, config: Config, log: FastifyInstance['log']): Promise<void> {
  if (store.auth.userCount() > 0) return
  const given = config.adminPassword
  const password = given ?? randomPassword()
  store.auth.createUser({ name: 'admin', passwordHash: await hashPassword(password), admin: true })
  if (given) {
    log.info('created user admin with the password from AK_ADMIN_PASSWORD')
    return
  }
  const file = join(config.dataDir, INITIAL_ADMIN_PASSWORD_FILE)
  await writeFile(file, `${password}\n`, { mode: 0o600 })
  // The password goes to the 0600 file only: logs are collected and kept where secrets must not be.
  log.warn({ user: 'admin', file }, `created user admin; its password is in ${file}`)
}

export { toWireError }
