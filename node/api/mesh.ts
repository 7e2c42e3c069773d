import type { FastifyInstance } from 'fastify'
import type { MeshHost, OriginLag } from '../../mesh/index.ts'
import type { ApiContext } from './context.ts'

/** What the mesh routes read; `host` is undefined while the mesh is off. */
export interface MeshApiContext {
  peerId: string
  host: () => MeshHost | undefined
  /** Replication lag per origin (the sync service's); undefined while the mesh is off. */
  lag?: () => OriginLag[] | undefined
}

/**
 * GET /api/v1/mesh/status: own peer ID, listen addresses, labels, connected peers and the
 * replication lag per origin (held vs. advertised sequence, events and seconds behind).
 * Admins only: addresses and peer IDs describe the deployment.
 */
export function meshRoutes(ctx: ApiContext, mesh: MeshApiContext) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/mesh/status', async (request) => {
      ctx.auth.authorize(request.principal, undefined, 'admin')
      const host = mesh.host()
      if (!host) return { enabled: false, peerId: mesh.peerId, addresses: [], connected: [], lag: [] }
      return { enabled: true, ...host.status(), lag: mesh.lag?.() ?? [] }
    })
  }
}
