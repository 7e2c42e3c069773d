import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Action, AuthStore, Repository, TokenAccess, User } from '../../store/index.ts'
import { ForbiddenError, TooManyAttemptsError, UnauthorizedError } from '../../store/index.ts'
import { verifyPassword } from './passwords.ts'
import { parseToken, secretMatches } from './tokens.ts'
import type { SessionSigner } from './sessions.ts'
import { LoginThrottle } from './login-throttle.ts'
import { CREDENTIAL_CACHE_SIZE, CREDENTIAL_CACHE_TTL, TOKEN_TOUCH_INTERVAL } from '../constants.ts'

export type Principal =
  | { kind: 'anonymous' }
  | {
      kind: 'user'
      name: string
      admin: boolean
      via: 'password' | 'token' | 'session'
      /** Present when authenticated by an API token: its limits apply on top of the user's. */
      token?: { id: string; repos: string[]; access: TokenAccess }
    }

export const ANONYMOUS: Principal = { kind: 'anonymous' }
/** Subject of bearer tokens issued to anonymous clients (Docker asks for one even to pull public images). */
export const ANONYMOUS_SUBJECT = '$anonymous'

/** What a token's access level allows. */
const TOKEN_ACTIONS: Record<TokenAccess, readonly Action[]> = {
  read: ['read'],
  write: ['read', 'write', 'delete'],
  admin: ['read', 'write', 'delete', 'admin'],
}

/** A grant of `write`, `delete` or `admin` includes `read`; `admin` includes everything. */
function expand(actions: Action[]): Set<Action> {
  const set = new Set(actions)
  if (set.has('admin')) return new Set(['read', 'write', 'delete', 'admin'])
  if (set.has('write') || set.has('delete')) set.add('read')
  return set
}

/**
 * Why credentials were refused (the `reason` label of ak_auth_failures_total): a wrong password,
 * a user name that does not exist, a disabled user, a password attempt refused by the throttle
 * without being checked (429), an unknown or wrong API token, an expired one, a token sent with
 * another user's name, a session JWT that is invalid, expired or ended.
 */
export type AuthFailureReason = 'password' | 'unknown_user' | 'disabled' | 'throttled' | 'token' | 'token_expired' | 'token_user' | 'session'

/** One refused credential, for the log and the metric. Never carries the secret. */
export interface AuthFailure {
  reason: AuthFailureReason
  /** The user name given (or the token's owner / id), when there is one. */
  user?: string
  address: string
}

export interface AuthServiceInit {
  /** Failed passwords of one user name before back-off starts (node/auth/login-throttle.ts). */
  maxFailedLoginsPerUser: number
  /** Failed passwords from one address before its back-off starts. */
  maxFailedLoginsPerAddress: number
  /** Told of every refused credential (log it, count it). @default nothing */
  onFailure?: (failure: AuthFailure) => void
}

/** Who is calling (authenticate) and what they may do (can, authorize). */
export class AuthService {
  private readonly throttle: LoginThrottle
  private readonly onFailure: (failure: AuthFailure) => void
  /** sha256(user, password) → the stored hash it was verified against, and until when. */
  private readonly verified = new Map<string, { passwordHash: string; until: number }>()
  /** Password checks running, by sha256(user, password) and stored hash: parallel requests with the same credentials share one scrypt. */
  private readonly verifying = new Map<string, Promise<boolean>>()

  constructor(
    private readonly store: AuthStore,
    private readonly sessions: SessionSigner,
    init: AuthServiceInit,
  ) {
    this.throttle = new LoginThrottle({ maxFailedPerUser: init.maxFailedLoginsPerUser, maxFailedPerAddress: init.maxFailedLoginsPerAddress })
    this.onFailure = init.onFailure ?? (() => {})
  }

  private refuse(reason: AuthFailureReason, user: string | undefined, address: string, message = 'invalid credentials'): never {
    this.onFailure({ reason, ...(user !== undefined ? { user } : {}), address })
    throw new UnauthorizedError(message)
  }

  private verify(password: string, passwordHash: string, cacheKey: string): Promise<boolean> {
    const key = `${cacheKey}:${passwordHash}`
    let running = this.verifying.get(key)
    if (!running) {
      running = verifyPassword(password, passwordHash).finally(() => this.verifying.delete(key))
      this.verifying.set(key, running)
    }
    return running
  }

  /**
   * Checks a user name and password from a client address, throttled per (user, address), per
   * user and per address as node/auth/login-throttle.ts describes: a correct password from an
   * address where this user has no recent failures always succeeds.
   */
  async login(name: string, password: string, address: string): Promise<User> {
    const cacheKey = createHash('sha256').update(name).update('\0').update(password).digest('hex')
    const gate = this.throttle.gate(name, address, cacheKey)
    if (gate.refuse) {
      this.onFailure({ reason: 'throttled', user: name, address })
      throw new TooManyAttemptsError('too many failed logins for this user from this address; try again later', {
        retryAfterSeconds: Math.max(1, Math.ceil(gate.retryAfterMs / 1000)),
      })
    }
    const user = this.store.getUser(name)
    const cached = this.verified.get(cacheKey)
    if (user && !user.disabled && cached && cached.until > Date.now() && cached.passwordHash === user.passwordHash) {
      this.throttle.succeeded(name, address)
      return user
    }
    const done = this.throttle.begin(name, address, cacheKey)
    let ok: boolean
    try {
      // Verify against a dummy hash when the user is unknown, so timing does not reveal names.
      ok = await this.verify(password, user?.passwordHash ?? DUMMY_HASH, cacheKey)
      // Held whichever way it went, so that the delay tells nothing about the password.
      if (gate.holdMs > 0) await sleep(gate.holdMs)
    } finally {
      done()
    }
    if (!user || !ok || user.disabled) {
      this.throttle.failed(name, address)
      this.refuse(!user ? 'unknown_user' : user.disabled ? 'disabled' : 'password', name, address)
    }
    if (this.verified.size >= CREDENTIAL_CACHE_SIZE) this.verified.clear()
    this.verified.set(cacheKey, { passwordHash: user.passwordHash, until: Date.now() + CREDENTIAL_CACHE_TTL })
    this.throttle.succeeded(name, address)
    return user
  }

  /**
   * An API token's principal. Never throttled: a token is a 256-bit secret (nothing to guess),
   * and password failures from the same address must not stop automation that uses tokens.
   */
  private tokenPrincipal(raw: string, expectedUser: string | undefined, address: string): Principal {
    const parsed = parseToken(raw)
    if (!parsed) this.refuse('token', expectedUser, address)
    const record = this.store.getToken(parsed.id)
    if (!record || !secretMatches(parsed.secret, record.secretHash)) this.refuse('token', expectedUser ?? `token:${parsed.id}`, address)
    if (record.expiresAt !== null && record.expiresAt <= Date.now()) this.refuse('token_expired', record.user, address, 'token expired')
    if (expectedUser !== undefined && expectedUser !== record.user && expectedUser !== '__token__' && expectedUser !== 'token') {
      this.refuse('token_user', expectedUser, address)
    }
    const user = this.store.getUser(record.user)
    if (!user || user.disabled) this.refuse('disabled', record.user, address, 'the token owner is disabled or gone')
    // last_used_at is informational: write it at most once a minute per token, not per request.
    const now = Date.now()
    if ((record.lastUsedAt ?? 0) < now - TOKEN_TOUCH_INTERVAL) this.store.touchToken(record.id, now)
    return {
      kind: 'user',
      name: user.name,
      admin: user.admin,
      via: 'token',
      token: { id: record.id, repos: record.repos, access: record.access },
    }
  }

  /**
   * Resolves the Authorization header: Basic user:password, Basic user:token, Bearer token,
   * Bearer session JWT, or a bare API token (cargo's form). No header is anonymous; a header
   * with bad credentials is Unauthorized.
   */
  async authenticate(authorization: string | undefined, address: string): Promise<Principal> {
    if (!authorization) return ANONYMOUS
    // Cargo sends its registry token as the whole header value, without a scheme.
    if (authorization.startsWith('akt_') && !authorization.includes(' ')) return this.tokenPrincipal(authorization, undefined, address)
    const space = authorization.indexOf(' ')
    const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase()
    const value = space < 0 ? '' : authorization.slice(space + 1).trim()
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon < 0) throw new UnauthorizedError('malformed Basic credentials')
      const name = decoded.slice(0, colon)
      const secret = decoded.slice(colon + 1)
      if (secret.startsWith('akt_')) return this.tokenPrincipal(secret, name, address)
      const user = await this.login(name, secret, address)
      return { kind: 'user', name: user.name, admin: user.admin, via: 'password' }
    }
    if (scheme === 'bearer') {
      if (value.startsWith('akt_')) return this.tokenPrincipal(value, undefined, address)
      // Session JWTs are never throttled either: the signature is the proof, nothing to guess.
      const session = await this.sessions.verify(value)
      if (!session) this.refuse('session', undefined, address, 'invalid or expired session token')
      if (session.user === ANONYMOUS_SUBJECT) return ANONYMOUS
      const user = this.store.getUser(session.user)
      if (!user || user.disabled) this.refuse('session', session.user, address, 'the session user is disabled or gone')
      // Any change to the user (password, admin flag, disabling) ends sessions issued before it.
      // iat has whole-second precision, hence the second of slack.
      if (session.issuedAt + 1000 < user.updatedAt) this.refuse('session', user.name, address, 'session ended by a change to the user')
      return { kind: 'user', name: user.name, admin: user.admin, via: 'session' }
    }
    throw new UnauthorizedError(`unsupported authorization scheme '${scheme}'`)
  }

  /** Whether `principal` may do `action` on `repo`; without a repo, a node-wide action (admin only). */
  can(principal: Principal, repo: Repository | undefined, action: Action): boolean {
    if (principal.kind === 'anonymous') return repo !== undefined && repo.public && action === 'read'
    if (principal.token) {
      const t = principal.token
      if (!TOKEN_ACTIONS[t.access].includes(action)) return false
      if (repo ? !t.repos.includes('*') && !t.repos.includes(repo.key) : !t.repos.includes('*')) return false
    }
    if (principal.admin) return true
    if (!repo) return false
    if (repo.public && action === 'read') return true
    return expand(this.store.grantsFor(principal.name, repo.key)).has(action)
  }

  /**
   * Throws UnauthorizedError for anonymous callers and ForbiddenError for others when not allowed.
   * The anonymous answer names no action, so that it reads the same for every route of a
   * repository, and for one that does not exist (formats/core findRepository).
   */
  authorize(principal: Principal, repo: Repository | undefined, action: Action): void {
    if (this.can(principal, repo, action)) return
    const target = repo ? `repository '${repo.key}'` : 'this node'
    if (principal.kind === 'anonymous') throw new UnauthorizedError(`authentication required for ${target}`)
    throw new ForbiddenError(`user '${principal.name}' may not ${action} ${target}`)
  }
}

/** A valid scrypt hash of a random string, verified against when the user does not exist. */
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
