import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * API tokens look like `akt_<id>_<secret>`: the id finds the row, the secret (32 random bytes)
 * is stored only as its sha256. A fast hash is right here: the secret has 256 bits of entropy,
 * so there is nothing to brute-force, unlike a password.
 */
export const TOKEN_PREFIX = 'akt_'
const TOKEN_PATTERN = /^akt_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/

export function generateToken(): { id: string; secret: string; token: string; secretHash: string } {
  const id = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').slice(0, 12)
  const secret = randomBytes(32).toString('base64url')
  return { id, secret, token: `${TOKEN_PREFIX}${id}_${secret}`, secretHash: hashSecret(secret) }
}

export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_PATTERN.exec(token)
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex')
  const b = Buffer.from(storedHash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}
