import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { ForbiddenError, UserNotFoundError } from '../../store/index.ts'
import { hashPassword } from '../auth/passwords.ts'
import { parseBody, requireUser, type ApiContext } from './context.ts'
import type { Principal } from '../auth/auth-service.ts'

export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const password = z.string().min(8, 'at least 8 characters').max(1024)

const createUser = z
  .object({
    name: z.string().regex(USER_NAME, 'use 1-64 of A-Z a-z 0-9 . _ @ - starting with a letter or digit'),
    password,
    email: z.string().email().optional(),
    admin: z.boolean().optional(),
  })
  .strict()

const updateUser = z
  .object({
    password: password.optional(),
    email: z.string().email().nullable().optional(),
    admin: z.boolean().optional(),
    disabled: z.boolean().optional(),
  })
  .strict()

const createGroup = z
  .object({
    name: z.string().regex(GROUP_NAME, 'use 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit'),
    description: z.string().max(1024).optional(),
    members: z.array(z.string()).max(10_000).optional(),
  })
  .strict()

const members = z.object({ members: z.array(z.string()).max(10_000) }).strict()

/** /api/v1/users and /api/v1/groups. Node admins manage them; a user may read and change itself. */
export function userRoutes(ctx: ApiContext) {
  const { store, auth } = ctx
  const admin = (request: { principal: Principal }) =>
    auth.authorize(request.principal, undefined, 'admin')

  return async function (app: FastifyInstance): Promise<void> {
    app.get('/users', async (request) => {
      admin(request)
      return store.auth.listUsers()
    })

    app.post('/users', async (request, reply) => {
      admin(request)
      const body = parseBody(createUser, request.body)
      const user = store.auth.createUser({
        name: body.name,
        passwordHash: await hashPassword(body.password),
        email: body.email ?? null,
        admin: body.admin ?? false,
      })
      return reply.code(201).send(user)
    })

    app.get<{ Params: { name: string } }>('/users/:name', async (request) => {
      const me = requireUser(request)
      if (me.name !== request.params.name) admin(request)
      const user = store.auth.listUsers().find((u) => u.name === request.params.name)
      if (!user) throw new UserNotFoundError(`user '${request.params.name}' does not exist`)
      return { ...user, groups: store.auth.groupsOf(user.name) }
    })

    app.patch<{ Params: { name: string } }>('/users/:name', async (request) => {
      const me = requireUser(request)
      const body = parseBody(updateUser, request.body)
      const self = me.name === request.params.name
      const onlyOwnPassword = self && body.admin === undefined && body.disabled === undefined
      if (!onlyOwnPassword) admin(request)
      if (self && me.token) throw new ForbiddenError('an API token cannot change its own user; log in with the password')
      return store.auth.updateUser(request.params.name, {
        passwordHash: body.password ? await hashPassword(body.password) : undefined,
        email: body.email,
        admin: body.admin,
        disabled: body.disabled,
      })
    })

    app.delete<{ Params: { name: string } }>('/users/:name', async (request, reply) => {
      admin(request)
      const me = requireUser(request)
      if (me.name === request.params.name) throw new ForbiddenError('you cannot delete yourself')
      store.auth.deleteUser(request.params.name)
      return reply.code(204).send()
    })

    app.get('/groups', async (request) => {
      admin(request)
      return store.auth.listGroups()
    })

    app.post('/groups', async (request, reply) => {
      admin(request)
      const body = parseBody(createGroup, request.body)
      store.auth.createGroup(body.name, body.description)
      const group = body.members ? store.auth.setGroupMembers(body.name, body.members) : store.auth.getGroup(body.name)
      return reply.code(201).send(group)
    })

    app.get<{ Params: { name: string } }>('/groups/:name', async (request) => {
      admin(request)
      const g = store.auth.getGroup(request.params.name)
      if (!g) throw new UserNotFoundError(`group '${request.params.name}' does not exist`)
      return g
    })

    app.put<{ Params: { name: string } }>('/groups/:name/members', async (request) => {
      admin(request)
      const body = parseBody(members, request.body)
      return store.auth.setGroupMembers(request.params.name, body.members)
    })

    app.delete<{ Params: { name: string } }>('/groups/:name', async (request, reply) => {
      admin(request)
      store.auth.deleteGroup(request.params.name)
      return reply.code(204).send()
    })
  }
}
