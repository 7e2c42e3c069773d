import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { InvalidInputError, NotImplementedError, REPOSITORY_KEY, type Repository } from '../../store/index.ts'
import { parseBody, type ApiContext } from './context.ts'

const settingsSchema = z
  .object({
    immutable: z.boolean().optional(),
    maxUploadBytes: z.number().int().positive().optional(),
    /** Virtual repositories: ordered member keys (same format). */
    members: z.array(z.string().regex(REPOSITORY_KEY)).max(100).optional(),
    /** Virtual repositories: the local member that receives publishes. */
    defaultDeployRepo: z.string().regex(REPOSITORY_KEY).optional(),
  })
  .passthrough()

const createSchema = z
  .object({
    key: z.string().regex(REPOSITORY_KEY, 'use 1-64 of a-z 0-9 . _ - starting with a letter or digit'),
    format: z.string().min(1),
    type: z.enum(['local', 'remote', 'virtual']).default('local'),
    description: z.string().max(1024).optional(),
    public: z.boolean().optional(),
    settings: settingsSchema.optional(),
  })
  .strict()

const updateSchema = z
  .object({
    description: z.string().max(1024).optional(),
    public: z.boolean().optional(),
    settings: settingsSchema.optional(),
    // Identity fields are accepted only unchanged, so a GET body can be PUT back.
    key: z.string().optional(),
    format: z.string().optional(),
    type: z.string().optional(),
  })
  .strict()

function view(r: Repository, artifacts: number) {
  return { ...r, createdAt: new Date(r.createdAt).toISOString(), updatedAt: new Date(r.updatedAt).toISOString(), artifacts }
}

/** /api/v1/repositories: create, list, get, update, delete. */
export function repositoryRoutes(ctx: ApiContext) {
  const { store, auth } = ctx
  /** A virtual repository's members exist, share its format, and are not virtual themselves (no cycles). */
  const checkVirtual = (key: string, format: string, type: string, settings: z.infer<typeof settingsSchema>) => {
    if (type !== 'virtual') {
      if (settings.members !== undefined || settings.defaultDeployRepo !== undefined) {
        throw new InvalidInputError('members and defaultDeployRepo apply to virtual repositories only')
      }
      return
    }
    const members = settings.members ?? []
    for (const m of members) {
      const member = store.repositories.get(m)
      if (!member) throw new InvalidInputError(`member '${m}' does not exist`)
      if (m === key) throw new InvalidInputError('a virtual repository cannot contain itself')
      if (member.format !== format) throw new InvalidInputError(`member '${m}' is a ${member.format} repository, not ${format}`)
      if (member.type === 'virtual') throw new InvalidInputError(`member '${m}' is virtual; nest members directly`)
    }
    if (settings.defaultDeployRepo !== undefined) {
      if (!members.includes(settings.defaultDeployRepo)) throw new InvalidInputError('defaultDeployRepo must be one of the members')
      if (store.repositories.get(settings.defaultDeployRepo)?.type !== 'local') {
        throw new InvalidInputError('defaultDeployRepo must be a local repository')
      }
    }
  }

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
      if (body.type === 'remote') {
        throw new NotImplementedError('remote repositories are not available yet; create a local or virtual repository')
      }
      checkVirtual(body.key, body.format, body.type, body.settings ?? {})
      const repo = store.repositories.create(body)
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
      if (body.settings) checkVirtual(repo.key, repo.format, repo.type, body.settings)
      const updated = store.repositories.update(repo.key, {
        description: body.description,
        public: body.public,
        settings: body.settings,
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
