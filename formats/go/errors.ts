import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, toDomainError } from '../../store/index.ts'
import { DEFAULT_HTTP_STATUS, mustCloseConnection } from '../core/index.ts'

/**
 * The one table from domain error codes to GOPROXY wire statuses. The go command treats 404
 * and 410 as "not found" (and falls back to the next proxy in GOPROXY), shows the plain-text
 * body of any error to the user ("server response: …"), and has no error format of its own:
 * bodies are one line of text.
 */
export const GO_STATUS: Record<string, number> = {
  ...DEFAULT_HTTP_STATUS,
  AK_FORMAT_MISMATCH: 404,
}

/** What a failed request answers: status and one line of text. */
export function goWireError(failure: unknown): { status: number; text: string } {
  const err = toDomainError(failure)
  if (err instanceof AkError) return { status: GO_STATUS[err.code] ?? 500, text: err.message }
  const fe = err as FastifyError
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return { status: fe.statusCode, text: fe.message }
  return { status: 500, text: 'internal error; see the node log' }
}

/** The go plugin's error handler: plain text, Basic challenge on 401. */
export function goErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const wire = goWireError(err)
  if (wire.status >= 500) request.log.error({ err }, 'request failed')
  else request.log.info({ code: (err as { code?: string }).code, msg: wire.text }, 'request refused')
  if (reply.sent) return
  if (wire.status === 401) reply.header('www-authenticate', 'Basic realm="Artifact Keeper", charset="UTF-8"')
  if (wire.status === 429 && err instanceof AkError && typeof err.details?.retryAfterSeconds === 'number') {
    reply.header('retry-after', String(err.details.retryAfterSeconds))
  }
  // A body still streaming in when we refuse: close after answering so its rest is not parsed as a request.
  if (mustCloseConnection(request, err)) reply.header('connection', 'close')
  reply.code(wire.status).type('text/plain; charset=utf-8').send(`${wire.text.replace(/\n/g, ' ')}\n`)
}
