import { EnvHttpProxyAgent, interceptors, request, type Dispatcher } from 'undici'
import {
  InvalidInputError,
  UpstreamInvalidError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  type Repository,
} from '../../../store/index.ts'
import { MAX_UPSTREAM_REDIRECTS } from './constants.ts'
import { guardedLookup, type AddressPolicy } from './address-policy.ts'
import { credentialOrigin, hopGuard } from './guard.ts'
import type { Upstream } from './types.ts'

/**
 * The HTTP side of remote repositories: one undici dispatcher per node that honours
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY (EnvHttpProxyAgent) and follows a few redirects, and the
 * mapping of transport failures to domain errors.
 *
 * Every hop (redirects too) is checked against the address policy: its host before dispatch
 * (guard.ts), and for direct connections each address its name resolves to, in the connector's
 * lookup, so DNS rebinding cannot reach a refused address. Through an HTTP(S) proxy the proxy
 * resolves names; there only the host is checked. Authorization never leaves the origin the
 * request was made for.
 */
export function defaultDispatcher(policy: AddressPolicy = {}): Dispatcher {
  const agent = new EnvHttpProxyAgent(policy.allowPrivate ? {} : { connect: { lookup: guardedLookup(policy.resolve) as never } })
  return agent.compose(hopGuard(policy), interceptors.redirect({ maxRedirections: MAX_UPSTREAM_REDIRECTS }), credentialOrigin())
}

/** The upstream of a remote repository (settings.upstream = {url, username?, password?}). */
export function upstreamOf(repo: Repository): Upstream {
  const u = repo.settings.upstream as { url?: unknown; username?: unknown; password?: unknown } | undefined
  if (!u || typeof u.url !== 'string') throw new InvalidInputError(`remote repository '${repo.key}' has no upstream url`)
  const authorization =
    typeof u.username === 'string' && u.username !== ''
      ? `Basic ${Buffer.from(`${u.username}:${typeof u.password === 'string' ? u.password : ''}`).toString('base64')}`
      : undefined
  return { url: u.url.replace(/\/+$/, ''), authorization }
}

/** `{upstream}/{relative}`: `relative` is already percent-encoded as the upstream wants it. */
export function joinUpstream(upstream: Upstream, relative: string): string {
  return `${upstream.url}/${relative.replace(/^\/+/, '')}`
}

export interface UpstreamRequest {
  url: string
  method?: 'GET' | 'HEAD'
  headers: Record<string, string>
  timeoutMs: number
  dispatcher: Dispatcher
  signal?: AbortSignal
}

/** Sends the request; transport failures become UpstreamTimeoutError or UpstreamUnavailableError. */
export async function sendUpstream(req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
  try {
    return await request(req.url, {
      method: req.method ?? 'GET',
      headers: req.headers,
      dispatcher: req.dispatcher,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
      signal: req.signal,
    })
  } catch (err) {
    throw upstreamFailure(err, req.url)
  }
}

/** Maps an undici or stream error met while talking to `url` to a domain error. */
export function upstreamFailure(err: unknown, url: string): Error {
  if (err instanceof UpstreamInvalidError || err instanceof UpstreamTimeoutError || err instanceof UpstreamUnavailableError) return err
  const code = (err as { code?: string }).code ?? ''
  const message = (err as Error).message ?? String(err)
  const where = redact(url)
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamTimeoutError(`upstream ${where} did not answer in time (${code})`)
  }
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new UpstreamInvalidError(`upstream ${where} sent a body whose length differs from its Content-Length`)
  }
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return new UpstreamInvalidError(`upstream ${where} sent too large a body`)
  return new UpstreamUnavailableError(`upstream ${where} failed: ${code ? `${code} ` : ''}${message}`)
}

/** The URL without credentials or query, for messages and logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    u.search = ''
    return u.toString()
  } catch {
    return '<invalid url>'
  }
}

/** First value of a response header. */
export function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}
