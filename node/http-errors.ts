import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError } from '../store/index.ts'

/**
 * The one table from domain error codes to HTTP statuses for the JSON API and the generic
 * format. Bodies are `{error: code, message}`. A test pins that every code has a row.
 */
export const HTTP_STATUS: Record<string, number> = {
  AK_BLOB_NOT_FOUND: 404,
  AK_DIGEST_MISMATCH: 400,
  AK_SIZE_MISMATCH: 400,
  AK_BODY_TOO_LARGE: 413,
  AK_CLIENT_ABORTED: 400,
  AK_BODY_TIMEOUT: 408,
  AK_INVALID_PATH: 400,
  AK_INVALID_INPUT: 400,
  AK_MALFORMED_JSON: 400,
  AK_REPOSITORY_NOT_FOUND: 404,
  AK_REPOSITORY_EXISTS: 409,
  AK_ARTIFACT_NOT_FOUND: 404,
  AK_ARTIFACT_IMMUTABLE: 409,
  AK_FORMAT_MISMATCH: 400,
  AK_NOT_IMPLEMENTED: 501,
  AK_USER_NOT_FOUND: 404,
  AK_USER_EXISTS: 409,
  AK_GROUP_NOT_FOUND: 404,
  AK_GROUP_EXISTS: 409,
  AK_TOKEN_NOT_FOUND: 404,
  AK_UNAUTHORIZED: 401,
  AK_FORBIDDEN: 403,
  AK_TOO_MANY_ATTEMPTS: 429,
  AK_NOT_FOUND: 404,
  AK_METHOD_NOT_ALLOWED: 405,
  AK_RANGE_NOT_SATISFIABLE: 416,
  AK_MIGRATION_FAILED: 500,
  AK_DATA_DIR_LOCKED: 500,
  AK_STORAGE_ERROR: 503,
  AK_SHUTTING_DOWN: 503,
}

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

export function toWireError(err: unknown): WireError {
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
