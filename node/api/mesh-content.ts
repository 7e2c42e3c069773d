import type { FastifyInstance } from 'fastify'
import { InvalidInputError } from '../../store/index.ts'
import { FIND_PROVIDERS_TIMEOUT, type MeshContent } from '../../mesh/index.ts'
import type { ApiContext } from './context.ts'

/** What the content-location routes read; `content` is undefined while the mesh is off. */
export interface MeshContentApiContext {
  content: () => MeshContent | undefined
}

const SHA256_HEX = /^[0-9a-f]{64}$/

/**
 * GET /api/v1/mesh/providers/:sha256: who holds a blob and how this node learnt it (a direct
 * peer's have-summary, a DHT provider record). Admins only, like the rest of /mesh.
 */
export function meshContentRoutes(ctx: ApiContext, mesh: MeshContentApiContext) {
  return async function (app: FastifyInstance): Promise<void> {
    const holdings = ctx.store.holdings
    app.get<{ Params: { sha256: string } }>('/mesh/providers/:sha256', async (request) => {
      ctx.auth.authorize(request.principal, undefined, 'admin')
      const sha256 = request.params.sha256.toLowerCase()
      if (!SHA256_HEX.test(sha256)) throw new InvalidInputError('sha256: expected 64 hex digits')
      const content = mesh.content()
      if (!content) return { enabled: false, sha256, self: holdings.holds(sha256), holders: [], dhtError: null }
      const location = await content.locate(sha256, AbortSignal.timeout(FIND_PROVIDERS_TIMEOUT * 2))
      return { enabled: true, ...location }
    })
  }
}
