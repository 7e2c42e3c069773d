import type { FormatContext } from '../context.ts'
import { createRemoteEngine, type RemoteEngine } from './engine.ts'

export { createRemoteEngine, cacheHeaders, isMissingBytes, type RemoteEngine, type RemoteComponents } from './engine.ts'
export { upstreamOf, joinUpstream, redact, defaultDispatcher } from './upstream.ts'
export { checkUpstreamUrl, refusedAddress, refusedHost, METADATA_HOSTNAMES, type AddressPolicy } from './address-policy.ts'
export { StoreAndClientTee } from './tee.ts'
export { NegativeCache } from './negative-cache.ts'
export * from './constants.ts'
export type { CacheStatus, ImmutableSpec, MutableResult, MutableSpec, RemoteOptions, Upstream } from './types.ts'

const engines = new WeakMap<FormatContext, RemoteEngine>()

/**
 * The node's one remote engine (its single-flight table, negative cache and upstream
 * connection pool are shared by every format), created on first use from ctx.remote.
 */
export function remoteEngine(ctx: FormatContext): RemoteEngine {
  let engine = engines.get(ctx)
  if (!engine) {
    engine = createRemoteEngine(ctx)
    engines.set(ctx, engine)
  }
  return engine
}
