import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, toDomainError } from '../../store/index.ts'
import { DEFAULT_HTTP_STATUS, mustCloseConnection } from '../core/index.ts'

/**
 * The one table from domain error codes to npm's wire. npm prints the `error` field of a JSON
 * body after the status line (npm-registry-fetch's HttpErrorGeneral), so the message goes
 * there; `code` keeps our stable code for scripts. Re-publishing a version is 403, as on the
 * npm registry ("You cannot publish over the previously published versions").
 */
export const NPM_STATUS: Record<string, number> = {
  ...DEFAULT_HTTP_STATUS,
  AK_ARTIFACT_IMMUTABLE: 403,
}

export interface NpmWireError {
  status: number
  body: { error: string; code: string }
}

export function toNpmWireError(failure: unknown): NpmWireError {
  const err = toDomainError(failure)
  if (err instanceof AkError) {
    return { status: NPM_STATUS[err.code] ?? 500, body: { error: err.message, code: err.code } }
  }
  const fe = err as FastifyError
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: fe.message, code: 'AK_INVALID_INPUT' } }
  }
  return { status: 500, body: { error: 'internal error; see the node log', code: 'AK_INTERNAL' } }
}

/** The npm plugin's error handler: `{error, code}` JSON, Basic challenge on 401. */
export function npmErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const wire = toNpmWireError(err)
  if (wire.status >= 500) request.log.error({ err }, 'npm request failed')
  else request.log.info({ code: wire.body.code, msg: wire.body.error }, 'npm request refused')
  // Never "OTP" here: npm would prompt for a one-time password.
  if (wire.status === 401) reply.header('www-authenticate', 'Basic realm="Artifact Keeper", charset="UTF-8"')
  if (wire.status === 429 && err instanceof AkError && typeof err.details?.retryAfterSeconds === 'number') {
    reply.header('retry-after', String(err.details.retryAfterSeconds))
  }
  if (mustCloseConnection(request, err)) reply.header('connection', 'close')
  if (reply.sent) return
  reply.code(wire.status).type('application/json; charset=utf-8').send(wire.body)
}
