import type { FastifyInstance } from 'fastify'
import { NotFoundError, TooManyAttemptsError, UpstreamUnavailableError } from '../../store/index.ts'
import { ProbeError, PROBE_MIN_INTERVAL, type PeerProfiles } from '../../mesh/index.ts'
import type { ApiContext } from './context.ts'

/** What the peer routes read; `profiles` is undefined while the mesh is off. */
export interface MeshPeersApiContext {
  profiles: () => PeerProfiles | undefined
}

/**
 * GET  /api/v1/mesh/peers                 every known peer's profile (connected now or seen before)
 * GET  /api/v1/mesh/peers/:peerId         one peer's profile
 * POST /api/v1/mesh/peers/:peerId/probe   measure the peer's libp2p throughput now (a probe transfer)
 * Admins only, like /mesh/status: addresses and peer IDs describe the deployment.
 */
export function meshPeerRoutes(ctx: ApiContext, mesh: MeshPeersApiContext) {
  return async function (app: FastifyInstance): Promise<void> {
    app.get('/mesh/peers', async (request) => {
      ctx.auth.authorize(request.principal, undefined, 'admin')
      const profiles = mesh.profiles()
      return { enabled: profiles !== undefined, peers: profiles?.list() ?? [] }
    })

    app.get<{ Params: { peerId: string } }>('/mesh/peers/:peerId', async (request) => {
      ctx.auth.authorize(request.principal, undefined, 'admin')
      const peer = mesh.profiles()?.get(request.params.peerId)
      if (!peer) throw new NotFoundError(`no profile of peer ${request.params.peerId}`)
      return peer
    })

    app.post<{ Params: { peerId: string } }>('/mesh/peers/:peerId/probe', async (request) => {
      ctx.auth.authorize(request.principal, undefined, 'admin')
      const profiles = mesh.profiles()
      const { peerId } = request.params
      if (!profiles) throw new NotFoundError('the mesh is off on this node')
      if (!profiles.get(peerId)?.connected) throw new NotFoundError(`peer ${peerId} is not connected`)
      try {
        const result = await profiles.probe(peerId)
        return { probe: result, peer: profiles.get(peerId) }
      } catch (err) {
        if (err instanceof ProbeError && err.reason === 'refused') {
          throw new TooManyAttemptsError(err.message, { retryAfterSeconds: Math.ceil(PROBE_MIN_INTERVAL / 1000) })
        }
        // The peer plays the upstream here: it failed to deliver.
        throw new UpstreamUnavailableError((err as Error).message)
      }
    })
  }
}
