import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError } from '../../store/index.ts'

/**
 * The one table from domain error codes to HTTP statuses for the cargo protocol. Bodies are
 * cargo's `{"errors":[{"detail":"…"}]}`, whose detail cargo prints to the user.
 * https://doc.rust-lang.org/cargo/reference/registry-web-api.html#web-api
 */
export const CARGO_STATUS: Record<string, number> = {
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

export interface CargoWireError {
  status: number
  headers: Record<string, string>
  body: { errors: { detail: string }[] }
}

export function toCargoError(err: unknown): CargoWireError {
  const wire = (status: number, detail: string, headers: Record<string, string> = {}): CargoWireError => ({
    status,
    headers,
    body: { errors: [{ detail }] },
  })
  if (err instanceof AkError) {
    const status = CARGO_STATUS[err.code] ?? 500
    const headers: Record<string, string> = {}
    // Cargo answers a 401 by retrying with the registry token (RFC 3139).
    if (status === 401) headers['www-authenticate'] = 'Cargo'
    const retry = err.details?.retryAfterSeconds
    if (status === 429 && typeof retry === 'number') headers['retry-after'] = String(retry)
    return wire(status, err.message, headers)
  }
  const fe = err as Partial<FastifyError>
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return wire(fe.statusCode, fe.message ?? 'bad request')
  return wire(500, 'internal server error')
}

/** The cargo plugin's error handler. */
export function cargoErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const wire = toCargoError(err)
  if (wire.status >= 500) request.log.error({ err }, 'cargo request failed')
  return reply.code(wire.status).headers(wire.headers).type('application/json').send(wire.body)
}
