import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import { SignJWT, decodeJwt, jwtVerify } from 'jose'
import { ForbiddenError, UnauthorizedError } from '../../store/index.ts'
import type { NodeIdentity } from '../identity.ts'
import { deriveMeshSubkey } from '../psk.ts'
import { ed25519PrivateKeyObject, publicKeyOf } from '../signing.ts'
import {
  MAX_PEER_TOKEN_TTL,
  PEER_TOKEN_CLOCK_SKEW,
  PEER_TOKEN_MAC_LABEL,
  PEER_TOKEN_RENEW_BEFORE,
  PEER_TOKEN_TTL,
  VERIFIED_TOKEN_CACHE_SIZE,
} from './constants.ts'

/*
 * Tokens for the HTTP chunk transport: a JWT (EdDSA) signed with the requesting node's libp2p
 * Ed25519 key. iss = requester peer ID, aud = serving peer ID, iat, exp (≤ 60 s later), jti,
 * and in a closed mesh `mac`: base64url HMAC-SHA256, keyed by HKDF(mesh key, PEER_TOKEN_MAC_LABEL),
 * of "iss\naud\niat\nexp\njti". The signature proves which node asks (its public key is inside
 * the iss peer ID); the mac proves that it holds the mesh key, the same proof the pnet handshake
 * demands on libp2p, so a node key on the allowlist without the mesh key opens nothing. The
 * serving node then accepts the signer only while it is a mesh member. A requester reuses one
 * token for many requests until shortly before it expires (jti names it in logs; not single-use).
 */

/** The `mac` claim over a token's other claims. */
function tokenMac(key: Buffer, claims: { iss: string; aud: string; iat: number; exp: number; jti: string }): string {
  return createHmac('sha256', key).update(`${claims.iss}\n${claims.aud}\n${claims.iat}\n${claims.exp}\n${claims.jti}`).digest('base64url')
}

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
  /** The mesh key (pnet v1 bytes, parseMeshKey): tokens then carry the `mac` that closed meshes require. @default none (an open mesh) */
  psk?: Uint8Array
}

export function createPeerTokenSigner(identity: NodeIdentity, init: PeerTokenSignerInit = {}): PeerTokenSigner {
  const key = ed25519PrivateKeyObject(identity.privateKey)
  const macKey = init.psk ? deriveMeshSubkey(init.psk, PEER_TOKEN_MAC_LABEL) : undefined
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
      const jti = randomUUID()
      const claims = macKey ? { mac: tokenMac(macKey, { iss: identity.peerId, aud: audience, iat, exp, jti }) } : {}
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
        .setIssuer(identity.peerId)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(jti)
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
  /**
   * The mesh key (pnet v1 bytes): every token must then carry a `mac` made with it, or it is
   * refused (403) whoever signed it. @default none (an open mesh: no mac is asked for)
   */
  psk?: Uint8Array
  /** @default Date.now */
  now?: () => number
}

/** Checks tokens on the serving side. */
export interface PeerTokenVerifier {
  /**
   * The issuing peer ID of a valid token from a member. Rejects with UnauthorizedError when the
   * token is missing, malformed, forged, expired, too long-lived or for another audience, and
   * with ForbiddenError when its (valid) signer does not prove the mesh key or is not a member.
   */
  verify(token: string | undefined): Promise<string>
}

export function createPeerTokenVerifier(init: PeerTokenVerifierInit): PeerTokenVerifier {
  const now = init.now ?? Date.now
  const macKey = init.psk ? deriveMeshSubkey(init.psk, PEER_TOKEN_MAC_LABEL) : undefined
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
      let claims: Record<string, unknown>
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['EdDSA'],
          issuer: iss,
          audience: init.audience,
          requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti'],
          clockTolerance: PEER_TOKEN_CLOCK_SKEW / 1000,
          currentDate: new Date(t),
        })
        claims = payload
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
      if (macKey && !macMatches(macKey, iss, claims)) {
        throw new ForbiddenError(`peer ${iss} does not prove the mesh key (its token has no valid mac): it is not a member of this mesh`)
      }
      if (verified.size >= VERIFIED_TOKEN_CACHE_SIZE) verified.clear()
      verified.set(token, { iss, exp })
      return member(iss)
    },
  }
}

function macMatches(key: Buffer, iss: string, claims: Record<string, unknown>): boolean {
  const { aud, iat, exp, jti, mac } = claims
  if (typeof aud !== 'string' || typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string' || typeof mac !== 'string') return false
  const expected = Buffer.from(tokenMac(key, { iss, aud, iat, exp, jti }))
  const given = Buffer.from(mac)
  return given.length === expected.length && timingSafeEqual(given, expected)
}
