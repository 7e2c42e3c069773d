import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidInputError, NotFoundError, UnauthorizedError } from '../../store/index.ts'
import type { NpmDeps } from './read.ts'
import { readSmallJson } from './update.ts'

/**
 * PUT /-/user/org.couchdb.user:{name} — `npm login --auth-type=legacy` and `npm adduser`
 * (npm-profile's loginCouch). Users are not created here: the password is checked against an
 * existing user and a new API token comes back as `{ok, token}`, which npm writes to .npmrc.
 */
export async function putUser(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, user: string) {
  const body = await readSmallJson(request)
  if (typeof body !== 'object' || body === null) throw new InvalidInputError('the body must be a JSON object')
  const { name, password } = body as { name?: unknown; password?: unknown }
  if (name !== undefined && name !== user) throw new InvalidInputError(`the body names user '${String(name)}', the URL '${user}'`)
  if (typeof password !== 'string' || password === '') throw new InvalidInputError('a password is required')
  await deps.ctx.login(request, user, password)
  const token = deps.ctx.createToken(user, 'npm login')
  return reply.code(201).send({ ok: true, id: `org.couchdb.user:${user}`, rev: '1', token })
}

/** GET /-/user/org.couchdb.user:{name}: the caller's own user document. */
export async function getUser(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, user: string) {
  const me = deps.ctx.userName(request)
  if (me === null) throw new UnauthorizedError('authentication required')
  if (me !== user) throw new NotFoundError(`user '${user}' not found`)
  return reply.send({ _id: `org.couchdb.user:${user}`, name: user, type: 'user', roles: [] })
}

/** GET /-/whoami (`npm whoami`). */
export async function whoami(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply) {
  const me = deps.ctx.userName(request)
  if (me === null) throw new UnauthorizedError('not logged in')
  return reply.send({ username: me })
}

/** DELETE /-/user/token/{token} (`npm logout`): revokes the token the request came with. */
export async function deleteToken(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply) {
  if (deps.ctx.userName(request) === null) throw new UnauthorizedError('not logged in')
  deps.ctx.revokeCallerToken(request)
  return reply.send({ ok: true })
}
