import { createHash } from 'node:crypto'
import type { Action, AuthStore, Repository, TokenAccess, User } from '../../store/index.ts'
import { ForbiddenError, TooManyAttemptsError, UnauthorizedError } from '../../store/index.ts'
import { verifyPassword } from './passwords.ts'
import { parseToken, secretMatches } from './tokens.ts'
import type { SessionSigner } from './sessions.ts'
import { FailureLimiter } from './rate-limit.ts'
import { CREDENTIAL_CACHE_SIZE, CREDENTIAL_CACHE_TTL, LOGIN_WINDOW, TOKEN_TOUCH_INTERVAL } from '../constants.ts'

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

export interface AuthServiceInit {
  maxFailedLoginsPerUser: number
  maxFailedLoginsPerAddress: number
}

/** Who is calling (authenticate) and what they may do (can, authorize). */
export class AuthService {
  private readonly byUser: FailureLimiter
  private readonly byAddress: FailureLimiter
  /** sha256(user, password) → the stored hash it was verified against, and until when. */
  private readonly verified = new Map<string, { passwordHash: string; until: number }>()

  constructor(
    private readonly store: AuthStore,
    private readonly sessions: SessionSigner,
    init: AuthServiceInit,
  ) {
    this.byUser = new FailureLimiter(init.maxFailedLoginsPerUser, LOGIN_WINDOW)
    this.byAddress = new FailureLimiter(init.maxFailedLoginsPerAddress, LOGIN_WINDOW)
  }

  private checkLimits(user: string, address: string): void {
    const wait = Math.max(this.byUser.blockedFor(`u:${user}`), this.byAddress.blockedFor(`a:${address}`))
    if (wait > 0) {
      throw new TooManyAttemptsError('too many failed logins; try again later', { retryAfterSeconds: Math.ceil(wait / 1000) })
    }
  }

  private failed(user: string, address: string): never {
    this.byUser.fail(`u:${user}`)
    this.byAddress.fail(`a:${address}`)
    throw new UnauthorizedError('invalid credentials')
  }

  /** Checks a user name and password, rate limited per user and per address. */
  async login(name: string, password: string, address: string): Promise<User> {
    this.checkLimits(name, address)
    const user = this.store.getUser(name)
    const cacheKey = createHash('sha256').update(name).update('\0').update(password).digest('hex')
    const cached = this.verified.get(cacheKey)
    if (user && !user.disabled && cached && cached.until > Date.now() && cached.passwordHash === user.passwordHash) {
      return user
    }
    // Verify against a dummy hash when the user is unknown, so timing does not reveal names.
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH)
    if (!user || !ok || user.disabled) this.failed(name, address)
    if (this.verified.size >= CREDENTIAL_CACHE_SIZE) this.verified.clear()
    this.verified.set(cacheKey, { passwordHash: user.passwordHash, until: Date.now() + CREDENTIAL_CACHE_TTL })
    this.byUser.reset(`u:${name}`)
    return user
  }

  private tokenPrincipal(raw: string, expectedUser: string | undefined, address: string): Principal {
    const parsed = parseToken(raw)
    if (!parsed) this.failed(expectedUser ?? 'token', address)
    this.checkLimits(`token:${parsed.id}`, address)
    const record = this.store.getToken(parsed.id)
    if (!record || !secretMatches(parsed.secret, record.secretHash)) this.failed(`token:${parsed.id}`, address)
    if (record.expiresAt !== null && record.expiresAt <= Date.now()) throw new UnauthorizedError('token expired')
    if (expectedUser !== undefined && expectedUser !== record.user && expectedUser !== '__token__' && expectedUser !== 'token') {
      this.failed(expectedUser, address)
    }
    const user = this.store.getUser(record.user)
    if (!user || user.disabled) throw new UnauthorizedError('the token owner is disabled or gone')
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
      const session = await this.sessions.verify(value)
      if (!session) throw new UnauthorizedError('invalid or expired session token')
      if (session.user === ANONYMOUS_SUBJECT) return ANONYMOUS
      const user = this.store.getUser(session.user)
      if (!user || user.disabled) throw new UnauthorizedError('the session user is disabled or gone')
      // Any change to the user (password, admin flag, disabling) ends sessions issued before it.
      // iat has whole-second precision, hence the second of slack.
      if (session.issuedAt + 1000 < user.updatedAt) throw new UnauthorizedError('session ended by a change to the user')
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
