import { readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { exportPKCS8, generateKeyPair, importPKCS8, importSPKI, exportSPKI, jwtVerify, SignJWT, type CryptoKey } from 'jose'

export const SESSION_KEY_FILE = 'session-key.pem'
const ALG = 'EdDSA'
const ISSUER = 'artifact-keeper'

/** Signs and verifies session JWTs (EdDSA) with a key kept in the data dir. */
export interface SessionSigner {
  issue(user: string, ttlMs: number): Promise<{ token: string; expiresAt: number }>
  /** The user name, or undefined for anything invalid or expired. */
  verify(token: string): Promise<{ user: string; issuedAt: number } | undefined>
}

export async function loadSessionSigner(dataDir: string): Promise<SessionSigner> {
  const file = join(dataDir, SESSION_KEY_FILE)
  let privateKey: CryptoKey
  let publicKey: CryptoKey
  try {
    const pem = await readFile(file, 'utf8')
    privateKey = await importPKCS8(pem, ALG, { extractable: true })
    const { createPublicKey } = await import('node:crypto')
    const spki = createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString()
    publicKey = await importSPKI(spki, ALG)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read session key ${file}: ${(err as Error).message}`)
    const pair = await generateKeyPair(ALG, { extractable: true })
    privateKey = pair.privateKey
    publicKey = await importSPKI(await exportSPKI(pair.publicKey), ALG)
    await writeFile(`${file}.tmp`, await exportPKCS8(privateKey), { mode: 0o600 })
    await rename(`${file}.tmp`, file)
  }
  return {
    async issue(user, ttlMs) {
      const expiresAt = Date.now() + ttlMs
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: ALG })
        .setSubject(user)
        .setIssuer(ISSUER)
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt / 1000))
        .sign(privateKey)
      return { token, expiresAt }
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, publicKey, { issuer: ISSUER, algorithms: [ALG] })
        if (typeof payload.sub !== 'string') return undefined
        return { user: payload.sub, issuedAt: (payload.iat ?? 0) * 1000 }
      } catch {
        return undefined
      }
    },
  }
}
