import type { FastifyInstance } from 'fastify'
import { type SyncStats } from '../../mesh/index.ts'
import type { ApiContext } from './context.ts'

export interface ReplicationApiContext {
  /** Sync counters since start; undefined while the mesh is off. */
  stats: () => SyncStats | undefined
}

/**
 * GET /api/v1/replication/state: a hash of the replicated state plus the version vector, so equal
 * state is checkable from outside. GET /api/v1/replication/conflicts: losers of immutable-path
 * conflicts and the winner every node picked. Admins only.
 */
export function replicationRoutes(ctx: ApiContext, replication: ReplicationApiContext) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/replication/state', async (request) => {
      ctx.auth.authorize(request.principal, undefined, 'admin')
      return { ...ctx.store.replicated.state(), sync: replication.stats() ?? null }
    })
    app.get('/replication/conflicts', async (request) => {
      ctx.auth.authorize(request.principal, undefined, 'admin')
      return { conflicts: ctx.store.replicated.conflicts() }
    })
  }
}
