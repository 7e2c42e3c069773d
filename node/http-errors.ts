import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, RepositoryNotFoundError, toDomainError } from '../store/index.ts'
import { DEFAULT_HTTP_STATUS, mustCloseConnection, privateStandIn } from '../formats/core/index.ts'
import type { AuthService, Principal } from './auth/auth-service.ts'

/**
 * The JSON API's and the generic format's table from domain error codes to HTTP statuses:
 * the shared defaults as they are. Bodies are `{error: code, message}`.
 */
export const HTTP_STATUS: Record<string, number> = { ...DEFAULT_HTTP_STATUS }

/** Fastify's own error codes that are the client's fault, mapped to ours. */
const FASTIFY_CODES: Record<string, { code: string; status: number }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'AK_MALFORMED_JSON', status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'AK_MALFORMED_JSON', status: 400 },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'AK_BODY_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'AK_INVALID_INPUT', status: 415 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'AK_SIZE_MISMATCH', status: 400 },
  FST_ERR_VALIDATION: { code: 'AK_INVALID_INPUT', status: 400 },
}

export interface WireError {
  status: number
  body: { error: string; message: string; details?: Record<string, unknown> }
}

export function toWireError(failure: unknown): WireError {
  const err = toDomainError(failure)
  if (err instanceof AkError) {
    const status = HTTP_STATUS[err.code] ?? 500
    return { status, body: { error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } }
  }
  const fe = err as FastifyError
  const mapped = fe?.code ? FASTIFY_CODES[fe.code] : undefined
  if (mapped) return { status: mapped.status, body: { error: mapped.code, message: fe.message } }
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: 'AK_INVALID_INPUT', message: fe.message } }
  }
  return { status: 500, body: { error: 'AK_INTERNAL', message: 'internal error; see the node log' } }
}

/** Fastify error handler for the JSON API and the generic format. */
export function jsonErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const wire = toWireError(err)
  if (wire.status >= 500) request.log.error({ err }, 'request failed')
  else request.log.info({ code: wire.body.error, msg: wire.body.message }, 'request refused')
  if (wire.status === 401 && !reply.hasHeader('www-authenticate')) {
    reply.header('www-authenticate', 'Basic realm="Artifact Keeper", charset="UTF-8"')
  }
  if (wire.status === 429 && err instanceof AkError && typeof err.details?.retryAfterSeconds === 'number') {
    reply.header('retry-after', String(err.details.retryAfterSeconds))
  }
  // A body still streaming in when we refuse: close the connection after answering, so the
  // rest of it is not parsed as a next request.
  if (mustCloseConnection(request, err)) reply.header('connection', 'close')
  if (reply.sent) return
  reply.code(wire.status).type('application/json; charset=utf-8').send(wire.body)
}

/**
 * What to answer instead of `err`: a repository that does not exist (store's `require`) is
 * refused exactly as a private one of that key would be, to a caller who could not read a
 * repository of that key (anonymous: 401, others: 403), so that the API tells no outsider which
 * private repositories exist (issue 11 part 9; formats/core findRepository does it for the formats).
 */
export function concealMissingRepository(err: unknown, principal: Principal, auth: AuthService): unknown {
  const key = err instanceof RepositoryNotFoundError ? err.details?.repo : undefined
  if (typeof key !== 'string') return err
  try {
    auth.authorize(principal, privateStandIn(key), 'read')
  } catch (refusal) {
    return refusal
  }
  return err
}

/** jsonErrorHandler for the node's root (the JSON API, the generic format, 404s), concealing missing repositories. */
export function nodeErrorHandler(auth: AuthService) {
  return function handle(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    jsonErrorHandler(concealMissingRepository(err, request.principal, auth) as FastifyError, request, reply)
  }
}
