import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { InvalidInputError, NotImplementedError, REPOSITORY_KEY, type Repository } from '../../store/index.ts'
import { parseBody, type ApiContext } from './context.ts'

const settingsSchema = z
  .object({
    immutable: z.boolean().optional(),
    maxUploadBytes: z.number().int().positive().optional(),
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
      if (body.type !== 'local') {
        throw new NotImplementedError(`${body.type} repositories are not available yet; create a local repository`)
      }
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
