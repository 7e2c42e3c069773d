import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, toDomainError } from '../../store/index.ts'
import { DEFAULT_HTTP_STATUS, mustCloseConnection } from '../core/index.ts'

/**
 * The one table from domain error codes to HTTP statuses for the chart repository. Bodies are
 * ChartMuseum's: `{"error": "message"}` (e.g. 409 for a chart version that exists with other
 * bytes); 401 carries a Basic challenge (helm sends --username/--password as Basic).
 */
export const HELM_STATUS: Record<string, number> = {
  ...DEFAULT_HTTP_STATUS,
  AK_FORMAT_MISMATCH: 404,
}

export function helmWireError(failure: unknown): { status: number; body: { error: string } } {
  const err = toDomainError(failure)
  if (err instanceof AkError) return { status: HELM_STATUS[err.code] ?? 500, body: { error: err.message } }
  const fe = err as FastifyError
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return { status: fe.statusCode, body: { error: fe.message } }
  return { status: 500, body: { error: 'internal error; see the node log' } }
}

export function helmErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const wire = helmWireError(err)
  if (wire.status >= 500) request.log.error({ err }, 'request failed')
  else request.log.info({ code: (err as { code?: string }).code, msg: wire.body.error }, 'request refused')
  if (reply.sent) return
  if (wire.status === 401) reply.header('www-authenticate', 'Basic realm="Artifact Keeper", charset="UTF-8"')
  if (wire.status === 429 && err instanceof AkError && typeof err.details?.retryAfterSeconds === 'number') {
    reply.header('retry-after', String(err.details.retryAfterSeconds))
  }
  if (mustCloseConnection(request, err)) reply.header('connection', 'close')
  reply.code(wire.status).type('application/json; charset=utf-8').send(wire.body)
}
