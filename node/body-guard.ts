import type { FastifyInstance, FastifyRequest } from 'fastify'
import { guardedBody, type ClientBodyLimits } from '../store/index.ts'

/** Whether the request carries a body (chunked, or a non-zero Content-Length). */
function hasBody(request: FastifyRequest): boolean {
  const len = request.headers['content-length']
  if (len !== undefined) return len !== '0'
  return request.headers['transfer-encoding'] !== undefined
}

/**
 * The node's body guard (silence, minimum rate) on the bodies fastify parses itself in this
 * (encapsulated) plugin: the JSON API's. The formats stream request.raw and guard it where they
 * read it (BlobStore.ingest and the bounded readers take the same ClientBodyLimits).
 */
export function guardParsedBodies(app: FastifyInstance, limits: ClientBodyLimits): void {
  app.addHook('preParsing', async (request, _reply, payload) => (hasBody(request) ? guardedBody(payload, limits) : payload))
}
