import { isIP } from 'node:net'
import { request as undiciRequest, type Dispatcher } from 'undici'
import { UpstreamInvalidError, UpstreamUnavailableError, type Repository } from '../../store/index.ts'
import { redact, upstreamOf } from '../core/remote/index.ts'

/**
 * Docker token authentication against the upstream of a remote OCI repository
 * (distribution/docs/spec/auth/token.md): the registry's `GET /v2/` answers 401 with
 * `WWW-Authenticate: Bearer realm="…",service="…"`; a token for
 * `scope=repository:<name>:pull` comes from the realm (with the repository's Basic credentials,
 * if it has any) and rides every request as `Authorization: Bearer …` until it expires.
 * Registries that want Basic, or nothing, are told apart by the same probe.
 */

/**
 * Whether the token realm an upstream names may receive the repository's Basic credentials: the
 * realm is on the upstream's host, or on its parent domain or a sibling under it (Docker Hub:
 * registry-1.docker.io sends clients to auth.docker.io; GitLab: registry.gitlab.com to
 * gitlab.com), never over plain http when the upstream is https. Any other realm gets an
 * anonymous token request: a registry cannot steer the credentials to a third host.
 */
export function realmMayReceiveCredentials(realm: URL, upstream: URL): boolean {
  if (upstream.protocol === 'https:' && realm.protocol !== 'https:') return false
  const realmHost = realm.hostname.toLowerCase()
  const upstreamHost = upstream.hostname.toLowerCase()
  if (realmHost === upstreamHost) return true
  if (isIP(realmHost.replace(/^\[|\]$/g, '')) !== 0 || isIP(upstreamHost.replace(/^\[|\]$/g, '')) !== 0) return false
  const labels = upstreamHost.split('.')
  if (labels.length < 3) return false
  const parent = labels.slice(1).join('.')
  return realmHost === parent || realmHost.endsWith(`.${parent}`)
}

/** A token is dropped this long before the expiry its issuer announced (clock skew, request time). */
export const TOKEN_EXPIRY_MARGIN = 10_000
/** Lifetime assumed when the token response has no expires_in (token.md: 60 s). */
export const DEFAULT_TOKEN_LIFETIME = 60_000
/** How long what the upstream's /v2/ probe said is trusted before it is probed again. */
export const CHALLENGE_TTL = 10 * 60_000
/** Largest token response read (JWTs with many claims are a few KiB). */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024

/** What an upstream registry asks for, from the challenge of its `GET /v2/`. */
export type Challenge = { scheme: 'none' } | { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined }

/**
 * Parses a WWW-Authenticate value (RFC 7235 §4.1) into its scheme and parameters; only the
 * first challenge is read, which is what registries send.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined
  const m = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/.exec(header)
  if (!m) return undefined
  const scheme = (m[1] as string).toLowerCase()
  if (scheme === 'basic') return { scheme: 'basic' }
  if (scheme !== 'bearer') return undefined
  const params: Record<string, string> = {}
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g
  let p: RegExpExecArray | null
  while ((p = re.exec(m[2] as string)) !== null) {
    if (p[0] === '') break
    params[(p[1] as string).toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '')
  }
  const realm = params.realm
  if (!realm || !/^https?:\/\//i.test(realm)) return undefined
  return { scheme: 'bearer', realm, service: params.service }
}

export interface UpstreamAuthInit {
  dispatcher: Dispatcher
  /** Headers and every body gap of the probe and token requests. */
  timeoutMs: number
}

interface CachedToken {
  value: string
  until: number
}

async function readJson(body: Dispatcher.ResponseData['body'], url: string): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_TOKEN_RESPONSE_BYTES) {
      body.destroy()
      throw new UpstreamInvalidError(`token response of ${redact(url)} is larger than ${MAX_TOKEN_RESPONSE_BYTES} bytes`)
    }
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new UpstreamInvalidError(`token response of ${redact(url)} is not JSON`)
  }
}

/**
 * The Authorization header for requests about one image of a remote repository's upstream:
 * challenges per upstream, tokens per scope, both cached, concurrent callers sharing one fetch.
 */
export class UpstreamAuth {
  private readonly challenges = new Map<string, { challenge: Challenge; until: number }>()
  private readonly tokens = new Map<string, CachedToken>()
  private readonly flights = new Map<string, Promise<string | undefined>>()

  constructor(private readonly init: UpstreamAuthInit) {}

  /**
   * Headers to add to a request for `name` (the image's name on the upstream): a bearer token
   * when the upstream uses token auth; nothing otherwise (the engine adds Basic credentials).
   */
  async headers(repo: Repository, name: string): Promise<Record<string, string>> {
    const key = this.keyOf(repo, name)
    const cached = this.tokens.get(key)
    if (cached && cached.until > Date.now()) return { authorization: `Bearer ${cached.value}` }
    let flight = this.flights.get(key)
    if (!flight) {
      flight = this.authorize(repo, name, key).finally(() => this.flights.delete(key))
      this.flights.set(key, flight)
    }
    const token = await flight
    return token ? { authorization: `Bearer ${token}` } : {}
  }

  /** The upstream refused what we sent (401): forget its token and challenge, so the next call starts over. */
  forget(repo: Repository, name: string): void {
    this.tokens.delete(this.keyOf(repo, name))
    this.challenges.delete(this.upstreamKey(repo))
  }

  private upstreamKey(repo: Repository): string {
    const up = upstreamOf(repo)
    return `${repo.key}\0${up.url}\0${up.authorization ?? ''}`
  }

  private keyOf(repo: Repository, name: string): string {
    return `${this.upstreamKey(repo)}\0${name}`
  }

  private async authorize(repo: Repository, name: string, key: string): Promise<string | undefined> {
    const challenge = await this.challenge(repo)
    if (challenge.scheme !== 'bearer') return undefined
    const url = new URL(challenge.realm)
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service)
    url.searchParams.set('scope', `repository:${name}:pull`)
    const up = upstreamOf(repo)
    // Credentials go to the realm only on the upstream's own domain (realmMayReceiveCredentials).
    const authorization = up.authorization && realmMayReceiveCredentials(url, new URL(up.url)) ? up.authorization : undefined
    const res = await this.send(url.toString(), authorization ? { authorization } : {})
    if (res.statusCode !== 200) {
      res.body.resume()
      throw new UpstreamUnavailableError(
        `the token service ${redact(url.toString())} of repository '${repo.key}' answered ${res.statusCode}${res.statusCode === 401 ? ' (check its upstream credentials)' : ''}`,
        { upstreamStatus: res.statusCode },
      )
    }
    const doc = (await readJson(res.body, url.toString())) as { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown }
    const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token
    if (typeof token !== 'string' || token === '') throw new UpstreamInvalidError(`the token service ${redact(url.toString())} sent no token`)
    const lifetime = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in * 1000 : DEFAULT_TOKEN_LIFETIME
    const issued = typeof doc.issued_at === 'string' && Number.isFinite(Date.parse(doc.issued_at)) ? Math.min(Date.parse(doc.issued_at), Date.now()) : Date.now()
    const until = issued + lifetime - Math.min(TOKEN_EXPIRY_MARGIN, lifetime / 10)
    this.tokens.set(key, { value: token, until })
    return token
  }

  /** What the upstream's `GET /v2/` (the API version check) asks of an anonymous client. */
  private async challenge(repo: Repository): Promise<Challenge> {
    const key = this.upstreamKey(repo)
    const cached = this.challenges.get(key)
    if (cached && cached.until > Date.now()) return cached.challenge
    const probe = `${new URL(upstreamOf(repo).url).origin}/v2/`
    const res = await this.send(probe, {})
    res.body.resume()
    let challenge: Challenge
    if (res.statusCode === 401) {
      const h = res.headers['www-authenticate']
      challenge = parseChallenge(Array.isArray(h) ? h[0] : h) ?? { scheme: 'basic' }
    } else if (res.statusCode < 500) {
      // 200, or a registry without the version check (404): requests go as they are.
      challenge = { scheme: 'none' }
    } else {
      throw new UpstreamUnavailableError(`upstream ${redact(probe)} of repository '${repo.key}' answered ${res.statusCode}`, { upstreamStatus: res.statusCode })
    }
    this.challenges.set(key, { challenge, until: Date.now() + CHALLENGE_TTL })
    return challenge
  }

  private async send(url: string, headers: Record<string, string>): Promise<Dispatcher.ResponseData> {
    try {
      return await undiciRequest(url, {
        method: 'GET',
        headers: { 'user-agent': 'artifact-keeper', accept: 'application/json', ...headers },
        dispatcher: this.init.dispatcher,
        headersTimeout: this.init.timeoutMs,
        bodyTimeout: this.init.timeoutMs,
      })
    } catch (err) {
      throw new UpstreamUnavailableError(`upstream ${redact(url)} failed: ${(err as Error).message}`)
    }
  }
}
