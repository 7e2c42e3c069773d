import { randomUUID } from 'node:crypto'
import { SignJWT, decodeJwt, jwtVerify } from 'jose'
import { ForbiddenError, UnauthorizedError } from '../../store/index.ts'
import type { NodeIdentity } from '../identity.ts'
import { ed25519PrivateKeyObject, publicKeyOf } from '../signing.ts'
import { MAX_PEER_TOKEN_TTL, PEER_TOKEN_CLOCK_SKEW, PEER_TOKEN_RENEW_BEFORE, PEER_TOKEN_TTL, VERIFIED_TOKEN_CACHE_SIZE } from './constants.ts'

/*
 * Tokens for the HTTP chunk transport: a JWT (EdDSA) signed with the requesting node's libp2p
 * Ed25519 key. iss = requester peer ID, aud = serving peer ID, iat, exp (≤ 60 s later), jti.
 * The serving node needs no shared secret: the public key is inside the iss peer ID, and it
 * accepts the signer only while it is a mesh member. A requester reuses one token for many
 * requests until shortly before it expires (jti names it in logs; it is not single-use).
 */

/** Mints tokens for requests this node makes to a peer's HTTP port. */
export interface PeerTokenSigner {
  /** A token for `audience` (the serving peer ID), reused until PEER_TOKEN_RENEW_BEFORE of its life is left. */
  token(audience: string): Promise<string>
}

export interface PeerTokenSignerInit {
  /** @default PEER_TOKEN_TTL (30 s); at most MAX_PEER_TOKEN_TTL (60 s) */
  ttlMs?: number
  /** @default Date.now */
  now?: () => number
}

export function createPeerTokenSigner(identity: NodeIdentity, init: PeerTokenSignerInit = {}): PeerTokenSigner {
  const key = ed25519PrivateKeyObject(identity.privateKey)
  const ttl = Math.min(init.ttlMs ?? PEER_TOKEN_TTL, MAX_PEER_TOKEN_TTL)
  const now = init.now ?? Date.now
  const cache = new Map<string, { token: string; exp: number }>()
  return {
    async token(audience) {
      const t = now()
      const held = cache.get(audience)
      if (held && held.exp - t > Math.min(PEER_TOKEN_RENEW_BEFORE, ttl / 2)) return held.token
      const iat = Math.floor(t / 1000)
      const exp = iat + Math.floor(ttl / 1000)
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
        .setIssuer(identity.peerId)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(key)
      if (cache.size > 1024) cache.clear()
      cache.set(audience, { token, exp: exp * 1000 })
      return token
    },
  }
}

export interface PeerTokenVerifierInit {
  /** This node's peer ID: the only audience accepted. */
  audience: string
  /** Whether a peer ID is a mesh member right now (connected, or on the allowlist when there is one; not banned). */
  isMember: (peerId: string) => boolean
  /** @default Date.now */
  now?: () => number
}

/** Checks tokens on the serving side. */
export interface PeerTokenVerifier {
  /**
   * The issuing peer ID of a valid token from a member. Rejects with UnauthorizedError when the
   * token is missing, malformed, forged, expired, too long-lived or for another audience, and
   * with ForbiddenError when its (valid) signer is not a mesh member.
   */
  verify(token: string | undefined): Promise<string>
}

export function createPeerTokenVerifier(init: PeerTokenVerifierInit): PeerTokenVerifier {
  const now = init.now ?? Date.now
  /** token → its issuer and expiry (ms), once verified: a token is reused for many requests. */
  const verified = new Map<string, { iss: string; exp: number }>()
  const member = (iss: string): string => {
    if (!init.isMember(iss)) throw new ForbiddenError(`peer ${iss} is not a member of this mesh`)
    return iss
  }
  return {
    async verify(token) {
      if (!token) throw new UnauthorizedError('a peer token is required (signed by a mesh member node)')
      const t = now()
      const hit = verified.get(token)
      if (hit) {
        if (hit.exp + PEER_TOKEN_CLOCK_SKEW > t) return member(hit.iss)
        verified.delete(token)
        throw new UnauthorizedError('the peer token has expired')
      }
      let iss: string | undefined
      try {
        iss = decodeJwt(token).iss
      } catch {
        throw new UnauthorizedError('the peer token is not a JWT')
      }
      const key = iss ? publicKeyOf(iss) : null
      if (!iss || !key) throw new UnauthorizedError('the peer token issuer is not an Ed25519 peer ID')
      let exp: number
      let iat: number
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['EdDSA'],
          issuer: iss,
          audience: init.audience,
          requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
          clockTolerance: PEER_TOKEN_CLOCK_SKEW / 1000,
          currentDate: new Date(t),
        })
        exp = (payload.exp as number) * 1000
        iat = (payload.iat as number) * 1000
      } catch (err) {
        const code = (err as { code?: string }).code ?? ''
        const why =
          code === 'ERR_JWT_EXPIRED'
            ? 'has expired'
            : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
              ? `has a wrong or missing claim (${(err as { claim?: string }).claim ?? '?'})`
              : 'has a bad signature or form'
        throw new UnauthorizedError(`the peer token ${why}`)
      }
      if (exp - iat > MAX_PEER_TOKEN_TTL || exp - t > MAX_PEER_TOKEN_TTL + PEER_TOKEN_CLOCK_SKEW) {
        throw new UnauthorizedError(`the peer token lives longer than ${MAX_PEER_TOKEN_TTL / 1000} s`)
      }
      if (verified.size >= VERIFIED_TOKEN_CACHE_SIZE) verified.clear()
      verified.set(token, { iss, exp })
      return member(iss)
    },
  }
}
