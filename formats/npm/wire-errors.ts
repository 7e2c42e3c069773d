import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError } from '../../store/index.ts'

/**
 * The one table from domain error codes to npm's wire. npm prints the `error` field of a JSON
 * body after the status line (npm-registry-fetch's HttpErrorGeneral), so the message goes
 * there; `code` keeps our stable code for scripts. Re-publishing a version is 403, as on the
 * npm registry ("You cannot publish over the previously published versions").
 */
export const NPM_STATUS: Record<string, number> = {
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
  AK_ARTIFACT_IMMUTABLE: 403,
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

export interface NpmWireError {
  status: number
  body: { error: string; code: string }
}

export function toNpmWireError(err: unknown): NpmWireError {
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
  if (!request.raw.complete) reply.header('connection', 'close')
  if (reply.sent) return
  reply.code(wire.status).type('application/json; charset=utf-8').send(wire.body)
}
