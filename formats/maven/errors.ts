import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, toDomainError } from '../../store/index.ts'
import { awaitingContinue, DEFAULT_HTTP_STATUS, mustCloseConnection } from '../core/index.ts'
import { AUTH_REALM } from './constants.ts'

/*
 * Maven clients (wagon, the resolver's HTTP transport) show only the status code and reason
 * phrase of a failed request ("status code: 409, reason phrase: Conflict …"), so the reason
 * phrase carries a short explanation next to the plain-text body.
 */

/** The one table from domain error codes to HTTP statuses for the Maven format. */
export const MAVEN_HTTP_STATUS: Record<string, number> = {
  ...DEFAULT_HTTP_STATUS,
}

const MAX_REASON = 200

/** A reason phrase: visible ASCII and spaces only (RFC 9112 §4), bounded. */
function reasonPhrase(status: number, message: string): string {
  const base = STATUS_CODES[status] ?? 'Error'
  const detail = message.replace(/[^\x20-\x7e]/g, ' ').slice(0, MAX_REASON)
  return detail === '' ? base : `${base} - ${detail}`
}

export function toMavenError(failure: unknown): { status: number; code: string; message: string } {
  const err = toDomainError(failure)
  if (err instanceof AkError) return { status: MAVEN_HTTP_STATUS[err.code] ?? 500, code: err.code, message: err.message }
  const fe = err as FastifyError
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return { status: fe.statusCode, code: 'AK_INVALID_INPUT', message: fe.message }
  return { status: 500, code: 'AK_INTERNAL', message: 'internal error; see the node log' }
}

/** The Maven plugin's one error handler: status + reason phrase + plain-text body. */
export function mavenErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const wire = toMavenError(err)
  if (wire.status >= 500) request.log.error({ err }, 'maven request failed')
  else request.log.info({ code: wire.code, msg: wire.message }, 'maven request refused')
  if (reply.sent) return
  if (wire.status === 401) reply.header('www-authenticate', `Basic realm="${AUTH_REALM}", charset="UTF-8"`)
  if (wire.status === 429 && err instanceof AkError && typeof err.details?.retryAfterSeconds === 'number') {
    reply.header('retry-after', String(err.details.retryAfterSeconds))
  }
  // Refused before (or while) the body arrived: close after answering so that the rest of the
  // body, or the body a 100-continue client holds back, is never parsed as a next request.
  if (mustCloseConnection(request, err) || awaitingContinue(request)) reply.header('connection', 'close')
  reply.raw.statusMessage = reasonPhrase(wire.status, wire.message)
  reply
    .code(wire.status)
    .type('text/plain; charset=utf-8')
    .send(`${wire.status} ${wire.code}: ${wire.message}\n`)
}
