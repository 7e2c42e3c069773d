import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { ForbiddenError, InvalidInputError, TokenNotFoundError, UnauthorizedError, type TokenRecord } from '../../store/index.ts'
import { generateToken } from '../auth/tokens.ts'
import { parseBody, requireUser, type ApiContext } from './context.ts'

const createToken = z
  .object({
    name: z.string().max(128).optional(),
    repos: z.array(z.string().min(1)).min(1).max(1000).optional(),
    access: z.enum(['read', 'write', 'admin']).optional(),
    expiresInSeconds: z.number().int().positive().optional(),
    expiresAt: z.string().datetime().optional(),
    /** Admins may create tokens for other users. */
    user: z.string().optional(),
  })
  .strict()

const login = z.object({ username: z.string().min(1), password: z.string().min(1) }).strict()

function view(t: TokenRecord) {
  return {
    id: t.id,
    user: t.user,
    name: t.name,
    repos: t.repos,
    access: t.access,
    expiresAt: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
    createdAt: new Date(t.createdAt).toISOString(),
    lastUsedAt: t.lastUsedAt === null ? null : new Date(t.lastUsedAt).toISOString(),
  }
}

/** /api/v1/tokens and /api/v1/auth (login, whoami). */
export function tokenRoutes(ctx: ApiContext) {
  const { store, auth, sessions, config } = ctx
  return async function (app: FastifyInstance): Promise<void> {
    app.post('/auth/login', async (request) => {
      const body = parseBody(login, request.body)
      const user = await auth.login(body.username, body.password, request.ip)
      const session = await sessions.issue(user.name, config.auth.sessionTtlMs)
      return { token: session.token, expiresAt: new Date(session.expiresAt).toISOString(), user: user.name }
    })

    app.get('/auth/whoami', async (request) => {
      const p = request.principal
      if (p.kind === 'anonymous') return { user: null, admin: false }
      return { user: p.name, admin: p.admin, via: p.via, token: p.token ? { id: p.token.id, access: p.token.access, repos: p.token.repos } : undefined }
    })

    app.post('/tokens', async (request, reply) => {
      const me = requireUser(request)
      const body = parseBody(createToken, request.body)
      if (me.token && me.token.access !== 'admin') throw new ForbiddenError('only an admin token may create tokens')
      const owner = body.user ?? me.name
      if (owner !== me.name) auth.authorize(request.principal, undefined, 'admin')
      if (!store.auth.getUser(owner)) throw new UnauthorizedError(`user '${owner}' does not exist`)
      // A token never mints a wider one: its repositories bound the new token's (and are the default).
      const repos = body.repos ?? me.token?.repos ?? ['*']
      if (me.token && !me.token.repos.includes('*') && !repos.every((r) => me.token?.repos.includes(r))) {
        throw new ForbiddenError(`this token may create tokens for its own repositories only (${me.token.repos.join(', ')})`)
      }
      let expiresAt: number | null = null
      if (body.expiresAt) expiresAt = Date.parse(body.expiresAt)
      if (body.expiresInSeconds) expiresAt = Date.now() + body.expiresInSeconds * 1000
      if (expiresAt !== null && expiresAt <= Date.now()) throw new InvalidInputError('expiry must be in the future')
      const generated = generateToken()
      const record = {
        id: generated.id,
        user: owner,
        name: body.name ?? '',
        secretHash: generated.secretHash,
        repos,
        access: body.access ?? 'write',
        expiresAt,
        createdAt: Date.now(),
      } as const
      store.auth.createToken({ ...record, repos: [...record.repos] })
      // The secret is shown once, here; only its hash is stored.
      return reply.code(201).send({ ...view({ ...record, repos: [...record.repos], lastUsedAt: null }), token: generated.token })
    })

    app.get<{ Querystring: { user?: string } }>('/tokens', async (request) => {
      const me = requireUser(request)
      const isAdmin = auth.can(request.principal, undefined, 'admin')
      const user = request.query.user ?? (isAdmin ? undefined : me.name)
      if (user !== me.name) auth.authorize(request.principal, undefined, 'admin')
      return store.auth.listTokens(user).map(view)
    })

    app.delete<{ Params: { id: string } }>('/tokens/:id', async (request, reply) => {
      const me = requireUser(request)
      const t = store.auth.getToken(request.params.id)
      if (!t) throw new TokenNotFoundError(`token '${request.params.id}' does not exist`)
      if (t.user !== me.name) auth.authorize(request.principal, undefined, 'admin')
      // As for creating: managing tokens takes a password, a session or an admin token; any token may revoke itself.
      if (me.token && me.token.access !== 'admin' && me.token.id !== t.id) throw new ForbiddenError('only an admin token may revoke other tokens')
      store.auth.deleteToken(t.id)
      return reply.code(204).send()
    })
  }
}
