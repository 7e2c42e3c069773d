import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, toDomainError } from '../store/index.ts'
import { DEFAULT_HTTP_STATUS } from '../formats/core/index.ts'

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
  if (!request.raw.complete) reply.header('connection', 'close')
  if (reply.sent) return
  reply.code(wire.status).type('application/json; charset=utf-8').send(wire.body)
}
