import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, toDomainError } from '../../store/index.ts'
import { AUTH_REALM } from './constants.ts'
import { DEFAULT_HTTP_STATUS, mustCloseConnection } from '../core/index.ts'

/**
 * The one table from domain error codes to the PyPI wire. Warehouse answers upload errors with
 * the status and a reason phrase that twine prints ("400 File already exists"), so the message
 * goes both into the status line and into a text/plain body.
 */
export const PYPI_STATUS: Record<string, number> = {
  ...DEFAULT_HTTP_STATUS,
  AK_ARTIFACT_IMMUTABLE: 400,
  AK_FORMAT_MISMATCH: 404,
}

/** Message prefixes that clients match on. */
const PREFIXES: Record<string, string> = {
  AK_ARTIFACT_IMMUTABLE: 'File already exists: ',
  AK_DIGEST_MISMATCH: 'The digest supplied does not match a digest calculated from the uploaded file: ',
}

export interface PypiWireError {
  status: number
  message: string
}

export function toPypiWireError(failure: unknown): PypiWireError {
  const err = toDomainError(failure)
  if (err instanceof AkError) {
    const status = PYPI_STATUS[err.code] ?? 500
    return { status, message: `${PREFIXES[err.code] ?? ''}${err.message}` }
  }
  const fe = err as Partial<FastifyError>
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, message: fe.message ?? 'bad request' }
  }
  return { status: 500, message: 'internal error' }
}

/** A reason phrase must be one line of visible ASCII. */
function reasonPhrase(message: string): string {
  const ascii = message.replace(/[^\x20-\x7e]+/g, ' ').trim()
  return ascii.length > 200 ? `${ascii.slice(0, 197)}...` : ascii
}

export function pypiErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, message } = toPypiWireError(err)
  if (status >= 500) request.log.error({ err }, 'pypi request failed')
  if (status === 401) reply.header('www-authenticate', `Basic realm="${AUTH_REALM}"`)
  // A body still streaming in when we refuse (too slow, too large): close after answering.
  if (mustCloseConnection(request, err)) reply.header('connection', 'close')
  reply.raw.statusMessage = reasonPhrase(message)
  return reply
    .code(status)
    .header('content-type', 'text/plain; charset=utf-8')
    .send(request.method === 'HEAD' ? undefined : `${status} ${message}\n`)
}
