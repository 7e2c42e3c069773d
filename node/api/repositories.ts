import { isDeepStrictEqual } from 'node:util'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { ForbiddenError, InvalidInputError, MASKED_SECRET, REPOSITORY_KEY, type Repository } from '../../store/index.ts'
import { checkUpstreamUrl } from '../../formats/core/index.ts'
import type { Principal } from '../auth/auth-service.ts'
import { parseBody, type ApiContext } from './context.ts'
import { replicationSchema, replicationView, withReplication } from './replication-settings.ts'

const settingsSchema = z
  .object({
    immutable: z.boolean().optional(),
    maxUploadBytes: z.number().int().positive().optional(),
    /** Serve HTML, SVG, XML… as themselves (still sandboxed) instead of as downloads: formats/core/active-content.ts. */
    serveActiveContent: z.boolean().optional(),
    /** Virtual repositories: ordered member keys (same format). */
    members: z.array(z.string().regex(REPOSITORY_KEY)).max(100).optional(),
    /** Virtual repositories: the local member that receives publishes. */
    defaultDeployRepo: z.string().regex(REPOSITORY_KEY).optional(),
    /** Remote repositories: how long fetched metadata is fresh (overrides remote.metadataTtlMs). */
    metadataTtlMs: z.number().int().min(0).optional(),
    /** Remote repositories: how long an upstream 404 is remembered (overrides remote.negativeTtlMs). */
    negativeTtlMs: z.number().int().min(0).optional(),
    /** Remote generic repositories: glob patterns of paths that are mutable (revalidated) instead of cached for good. */
    mutablePaths: z.array(z.string().min(1).max(512)).max(100).optional(),
    /** Replication over the mesh (also accepted as a top-level `replication`): see replication-settings.ts. */
    replication: replicationSchema.optional(),
  })
  .passthrough()

/**
 * A remote repository's upstream; the password is write-only (GET shows it masked). On update,
 * an omitted username/password keeps the stored one, `null` removes it (docs/remote.md).
 */
const upstreamSchema = z
  .object({
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'the upstream url must be http or https'),
    username: z.string().max(256).nullable().optional(),
    password: z.string().max(4096).nullable().optional(),
  })
  .strict()

/** What GET shows instead of an upstream password; PUT it back unchanged to keep the stored one. */
export const MASKED_PASSWORD = MASKED_SECRET

const createSchema = z
  .object({
    key: z.string().regex(REPOSITORY_KEY, 'use 1-64 of a-z 0-9 . _ - starting with a letter or digit'),
    format: z.string().min(1),
    type: z.enum(['local', 'remote', 'virtual']).default('local'),
    description: z.string().max(1024).optional(),
    public: z.boolean().optional(),
    settings: settingsSchema.optional(),
    upstream: upstreamSchema.optional(),
    replication: replicationSchema.optional(),
  })
  .strict()

const updateSchema = z
  .object({
    description: z.string().max(1024).optional(),
    public: z.boolean().optional(),
    settings: settingsSchema.optional(),
    upstream: upstreamSchema.optional(),
    replication: replicationSchema.optional(),
    // Identity fields are accepted only unchanged, so a GET body can be PUT back.
    key: z.string().optional(),
    format: z.string().optional(),
    type: z.string().optional(),
    // Read-only fields GET shows: accepted (in the form GET gives them) and ignored, for the same reason.
    createdAt: z.string().optional(),
    updatedAt: z.string().optional(),
    artifacts: z.number().int().min(0).optional(),
  })
  .strict()

/** The upstream as the API shows it: the password masked, never returned. */
function maskedUpstream(r: Repository): Record<string, unknown> | undefined {
  const u = r.settings.upstream as Record<string, unknown> | undefined
  if (!u || typeof u !== 'object') return undefined
  return { ...u, ...(u.password !== undefined ? { password: MASKED_PASSWORD } : {}) }
}

function view(r: Repository, artifacts: number) {
  const upstream = maskedUpstream(r)
  const settings = upstream ? { ...r.settings, upstream } : r.settings
  return {
    ...r,
    settings,
    ...(upstream ? { upstream } : {}),
    replication: replicationView(r),
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
    artifacts,
  }
}

/** Who changes an upstream, and under which address policy. */
interface UpstreamEditor {
  /** A node admin may point the upstream at another scheme, host or port; a repository admin only at another path. */
  nodeAdmin: boolean
  /** remote.allowPrivateAddresses */
  allowPrivate: boolean
}

function urlOrUndefined(url: unknown): URL | undefined {
  try {
    return typeof url === 'string' ? new URL(url) : undefined
  } catch {
    return undefined
  }
}

/**
 * settings.upstream of a remote repository from the request's `upstream` (or settings.upstream).
 * The URL must pass the address policy. Another origin (scheme, host or port) needs a node admin,
 * since the stored credentials and the node's network position go wherever the URL points, and
 * drops the stored credentials unless new ones come with it. Within the same origin an omitted
 * username/password (or the masked password) keeps the stored one and `null` removes it.
 */
async function withUpstream(
  type: string,
  settings: z.infer<typeof settingsSchema>,
  given: z.infer<typeof upstreamSchema> | undefined,
  current: Repository | undefined,
  editor: UpstreamEditor,
): Promise<z.infer<typeof settingsSchema>> {
  const raw = given ?? (settings.upstream as unknown)
  if (type !== 'remote') {
    if (raw !== undefined) throw new InvalidInputError('upstream applies to remote repositories only')
    return settings
  }
  if (raw === undefined) {
    const kept = current?.settings.upstream
    if (kept === undefined) throw new InvalidInputError('a remote repository needs upstream: {url, username?, password?}')
    return { ...settings, upstream: kept }
  }
  const parsed = upstreamSchema.safeParse(raw)
  if (!parsed.success) throw new InvalidInputError(`invalid upstream: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'upstream'}: ${i.message}`).join('; ')}`)
  const old = (current?.settings.upstream ?? undefined) as { url?: unknown; username?: unknown; password?: unknown } | undefined
  const oldUrl = urlOrUndefined(old?.url)
  const sameOrigin = oldUrl !== undefined && oldUrl.origin === urlOrUndefined(parsed.data.url)?.origin
  if (current && !sameOrigin && !editor.nodeAdmin) {
    throw new ForbiddenError(`changing the scheme, host or port of the upstream of repository '${current.key}' needs a node admin (a repository admin may change its path)`)
  }
  await checkUpstreamUrl(parsed.data.url, { allowPrivate: editor.allowPrivate })
  const kept = sameOrigin ? (old ?? {}) : {}
  const upstream: Record<string, unknown> = { url: parsed.data.url }
  for (const k of ['username', 'password'] as const) {
    const v = parsed.data[k]
    const value = v === undefined || (k === 'password' && v === MASKED_PASSWORD) ? kept[k] : v
    if (typeof value === 'string') upstream[k] = value
  }
  return { ...settings, upstream }
}

/** The caller as an error message names them. */
const who = (p: Principal) => (p.kind === 'user' ? `user '${p.name}'` : 'an anonymous caller')

/** /api/v1/repositories: create, list, get, update, delete. */
export function repositoryRoutes(ctx: ApiContext) {
  const { store, auth } = ctx
  /**
   * A virtual repository's members exist, share its format, and are not virtual themselves (no
   * cycles). The editor must not widen access beyond what they may use (a repository admin of
   * the virtual repository only is not an admin of its members): every member the edit adds
   * needs read for the editor, and a changed defaultDeployRepo needs write. Members and target
   * kept as they were pass: they open nothing new, and reads through the virtual repository are
   * filtered per member anyway (formats/core/virtual.ts readOrder).
   */
  const checkVirtual = (
    principal: Principal,
    key: string,
    format: string,
    type: string,
    settings: z.infer<typeof settingsSchema>,
    current?: Repository,
  ) => {
    if (type !== 'virtual') {
      if (settings.members !== undefined || settings.defaultDeployRepo !== undefined) {
        throw new InvalidInputError('members and defaultDeployRepo apply to virtual repositories only')
      }
      return
    }
    const members = settings.members ?? []
    const kept = new Set(Array.isArray(current?.settings.members) ? (current.settings.members as string[]) : [])
    for (const m of members) {
      if (m === key) throw new InvalidInputError('a virtual repository cannot contain itself')
      const member = store.repositories.get(m)
      // Checked before anything else about the member, and answered alike whether it exists or
      // not, so that an editor learns nothing about repositories they may not read.
      if (!member || (!kept.has(m) && !auth.can(principal, member, 'read'))) {
        if (!member && auth.can(principal, undefined, 'admin')) throw new InvalidInputError(`member '${m}' does not exist`)
        throw new ForbiddenError(`member '${m}' does not exist or ${who(principal)} may not read it (a member needs read)`)
      }
      if (member.format !== format) throw new InvalidInputError(`member '${m}' is a ${member.format} repository, not ${format}`)
      if (member.type === 'virtual') throw new InvalidInputError(`member '${m}' is virtual; nest members directly`)
    }
    if (settings.defaultDeployRepo !== undefined) {
      if (!members.includes(settings.defaultDeployRepo)) throw new InvalidInputError('defaultDeployRepo must be one of the members')
      const target = store.repositories.get(settings.defaultDeployRepo)
      if (target?.type !== 'local') {
        throw new InvalidInputError('defaultDeployRepo must be a local repository')
      }
      if (settings.defaultDeployRepo !== current?.settings.defaultDeployRepo && !auth.can(principal, target, 'write')) {
        throw new ForbiddenError(`deploying to '${target.key}' needs write on it, which ${who(principal)} does not have`)
      }
    }
  }

  const editorOf = (request: FastifyRequest): UpstreamEditor => ({
    nodeAdmin: auth.can(request.principal, undefined, 'admin'),
    allowPrivate: ctx.config.remote.allowPrivateAddresses,
  })

  return async function (app: FastifyInstance): Promise<void> {
    app.get('/repositories', async (request) => {
      return store.repositories
        .list()
        .filter((r) => auth.can(request.principal, r, 'read'))
        .map((r) => view(r, store.artifacts.count(r.key)))
    })

    app.post('/repositories', async (request, reply) => {
      auth.authorize(request.principal, undefined, 'admin')
      const body = parseBody(createSchema, request.body)
      if (!ctx.formats.includes(body.format)) {
        throw new InvalidInputError(`unknown format '${body.format}'; this node serves: ${ctx.formats.join(', ')}`)
      }
      checkVirtual(request.principal, body.key, body.format, body.type, body.settings ?? {})
      const { upstream, replication, ...rest } = body
      const settings = withReplication(await withUpstream(body.type, body.settings ?? {}, upstream, undefined, editorOf(request)), replication)
      const repo = store.repositories.create({ ...rest, settings })
      return reply.code(201).header('location', `/api/v1/repositories/${repo.key}`).send(view(repo, 0))
    })

    app.get<{ Params: { key: string } }>('/repositories/:key', async (request) => {
      const repo = store.repositories.require(request.params.key)
      auth.authorize(request.principal, repo, 'read')
      return view(repo, store.artifacts.count(repo.key))
    })

    const update = async (request: FastifyRequest<{ Params: { key: string } }>) => {
      const repo = store.repositories.require(request.params.key)
      auth.authorize(request.principal, repo, 'admin')
      const body = parseBody(updateSchema, request.body)
      for (const f of ['key', 'format', 'type'] as const) {
        if (body[f] !== undefined && body[f] !== repo[f]) throw new InvalidInputError(`a repository's ${f} cannot change`)
      }
      if (body.settings) checkVirtual(request.principal, repo.key, repo.format, repo.type, body.settings, repo)
      const updatedSettings =
        body.settings !== undefined || body.upstream !== undefined
          ? await withUpstream(repo.type, body.settings ?? repo.settings, body.upstream, repo, editorOf(request))
          : undefined
      // The effective replication GET shows, sent back unchanged, is not stored as explicit settings.
      const base = updatedSettings ?? repo.settings
      const unchanged = body.replication !== undefined && isDeepStrictEqual(body.replication, replicationView({ ...repo, settings: base }))
      const settings = body.replication !== undefined && !unchanged ? withReplication(base, body.replication) : updatedSettings
      const updated = store.repositories.update(repo.key, {
        description: body.description,
        public: body.public,
        settings,
      })
      return view(updated, store.artifacts.count(repo.key))
    }
    app.patch<{ Params: { key: string } }>('/repositories/:key', update)
    app.put<{ Params: { key: string } }>('/repositories/:key', update)

    app.delete<{ Params: { key: string } }>('/repositories/:key', async (request, reply) => {
      const repo = store.repositories.require(request.params.key)
      auth.authorize(request.principal, repo, 'admin')
      const { artifacts } = store.repositories.delete(repo.key)
      request.log.info({ repo: repo.key, artifacts }, 'repository deleted')
      return reply.code(204).send()
    })
  }
}
