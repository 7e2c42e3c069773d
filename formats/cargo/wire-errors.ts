import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, toDomainError } from '../../store/index.ts'
import { DEFAULT_HTTP_STATUS, mustCloseConnection } from '../core/index.ts'

/**
 * The one table from domain error codes to HTTP statuses for the cargo protocol. Bodies are
 * cargo's `{"errors":[{"detail":"…"}]}`, whose detail cargo prints to the user.
 * https://doc.rust-lang.org/cargo/reference/registry-web-api.html#web-api
 */
export const CARGO_STATUS: Record<string, number> = {
  ...DEFAULT_HTTP_STATUS,
}

export interface CargoWireError {
  status: number
  headers: Record<string, string>
  body: { errors: { detail: string }[] }
}

export function toCargoError(failure: unknown): CargoWireError {
  const err = toDomainError(failure)
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
  // A body still streaming in when we refuse (too slow, too large): close after answering.
  if (mustCloseConnection(request, err)) reply.header('connection', 'close')
  return reply.code(wire.status).headers(wire.headers).type('application/json').send(wire.body)
}
