import type { FastifyInstance } from 'fastify'
import type { Transfer } from '../../scheduler/index.ts'
import type { ApiContext } from './context.ts'

export interface TransfersApiContext {
  transfers: () => Transfer[]
}

/**
 * GET /api/v1/transfers: the swarm scheduler's active, queued and recent downloads (digest,
 * size, state, progress, rate, and per source its bytes, chunks, failures and state).
 * Admins only: digests and peer IDs say what this node fetches and from whom.
 */
export function transferRoutes(ctx: ApiContext, deps: TransfersApiContext) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/transfers', async (request) => {
      ctx.auth.authorize(request.principal, undefined, 'admin')
      const transfers = deps.transfers()
      return {
        active: transfers.filter((t) => t.state === 'active' || t.state === 'committing' || t.state === 'queued').length,
        transfers,
      }
    })
  }
}
