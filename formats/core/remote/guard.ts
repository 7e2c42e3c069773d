import type { Dispatcher } from 'undici'
import { bareHost, refusedConnection, refusedHost, type AddressPolicy } from './address-policy.ts'

/**
 * Two undici interceptors around the redirect interceptor of the upstream dispatcher
 * (`agent.compose(hopGuard(policy), interceptors.redirect(…), credentialOrigin())`):
 *
 * - `credentialOrigin` (outermost) records the origin of the request as the caller made it: the
 *   only origin its Authorization header is meant for.
 * - `hopGuard` (innermost) sees every hop, the first and each redirect: it refuses a scheme other
 *   than http(s) and a refused host (address-policy.ts: literal addresses and metadata names;
 *   resolved addresses are checked by the connector's lookup), and removes Authorization from a
 *   hop to any other origin (scheme, host and port), whatever the redirect interceptor does.
 */

/** Where `credentialOrigin` records the first hop's origin; object spreads (the redirect handler's) keep it. */
const CREDENTIAL_ORIGIN = Symbol('ak.credentialOrigin')

type Opts = Dispatcher.DispatchOptions & { [CREDENTIAL_ORIGIN]?: string }
type Dispatch = Dispatcher['dispatch']
type Handler = Dispatcher.DispatchHandler

function originOf(origin: Dispatcher.DispatchOptions['origin']): URL | undefined {
  try {
    return origin instanceof URL ? origin : new URL(String(origin))
  } catch {
    return undefined
  }
}

function fail(handler: Handler, err: Error): boolean {
  // Interceptors get handlers of undici's current API (compose wraps older ones).
  const h = handler as { onResponseError?: (controller: null, err: Error) => void; onError?: (err: Error) => void }
  if (h.onResponseError) h.onResponseError(null, err)
  else h.onError?.(err)
  return true
}

/** The headers without Authorization, in whichever of undici's shapes they came. */
export function withoutAuthorization(headers: Dispatcher.DispatchOptions['headers']): Dispatcher.DispatchOptions['headers'] {
  if (!headers) return headers
  const drop = (name: unknown) => String(name).toLowerCase() === 'authorization'
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) return (headers as unknown as [string, string][]).filter(([k]) => !drop(k)) as never
    const flat: string[] = []
    for (let i = 0; i < headers.length; i += 2) if (!drop(headers[i])) flat.push(headers[i] as string, headers[i + 1] as string)
    return flat
  }
  const entries = Symbol.iterator in (headers as object) ? [...(headers as Iterable<[string, string]>)] : Object.entries(headers)
  return Object.fromEntries(entries.filter(([k]) => !drop(k))) as Record<string, string>
}

export function credentialOrigin(): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch: Dispatch) => (opts: Opts, handler: Handler) => {
    if (opts[CREDENTIAL_ORIGIN] !== undefined) return dispatch(opts, handler)
    return dispatch({ ...opts, [CREDENTIAL_ORIGIN]: originOf(opts.origin)?.origin ?? '' } as Opts, handler)
  }
}

export function hopGuard(policy: AddressPolicy = {}): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch: Dispatch) => (opts: Opts, handler: Handler) => {
    const url = originOf(opts.origin)
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      return fail(handler, refusedConnection(String(opts.origin), 'only http and https upstreams are allowed'))
    }
    if (!policy.allowPrivate) {
      const why = refusedHost(url.hostname)
      if (why) return fail(handler, refusedConnection(bareHost(url.hostname), why))
    }
    const first = opts[CREDENTIAL_ORIGIN]
    if (first !== undefined && first !== url.origin) return dispatch({ ...opts, headers: withoutAuthorization(opts.headers) }, handler)
    return dispatch(opts, handler)
  }
}
