import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { NotFoundError, REPOSITORY_KEY } from '../../store/index.ts'
import { parseBody, type ApiContext } from './context.ts'

const permission = z
  .object({
    repo: z.union([z.literal('*'), z.string().regex(REPOSITORY_KEY)]),
    principalType: z.enum(['user', 'group']),
    principal: z.string().min(1),
    actions: z.array(z.enum(['read', 'write', 'delete', 'admin'])).min(1),
  })
  .strict()

const target = z
  .object({ repo: z.string().min(1), principalType: z.enum(['user', 'group']), principal: z.string().min(1) })
  .strict()

/**
 * /api/v1/permissions: grants of read, write, delete or admin on a repository (or '*') to a
 * user or group. A repository's admins manage its grants; only node admins manage '*'.
 */
export function permissionRoutes(ctx: ApiContext) {
  const { store, auth } = ctx
  const mayManage = (principal: Parameters<typeof auth.authorize>[0], repo: string) => {
    if (repo === '*') auth.authorize(principal, undefined, 'admin')
    else auth.authorize(principal, store.repositories.require(repo), 'admin')
  }
  return async function (app: FastifyInstance): Promise<void> {
    app.get<{ Querystring: { repo?: string } }>('/permissions', async (request) => {
      const repo = request.query.repo
      if (repo) mayManage(request.principal, repo)
      else auth.authorize(request.principal, undefined, 'admin')
      return store.auth.listPermissions(repo)
    })

    app.put('/permissions', async (request) => {
      const body = parseBody(permission, request.body)
      mayManage(request.principal, body.repo)
      store.auth.setPermission(body)
      return body
    })

    app.delete('/permissions', async (request, reply) => {
      const q = parseBody(target, request.query)
      mayManage(request.principal, q.repo)
      if (!store.auth.deletePermission(q.repo, q.principalType, q.principal)) throw new NotFoundError('no such grant')
      return reply.code(204).send()
    })
  }
}
