import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmodSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { StorageError } from './errors.ts'

/**
 * Secrets at rest: small values (an upstream password) sealed with AES-256-GCM under the node's
 * secret key before they reach metadata.db, and opened when read. The sealed text names its
 * version, so the scheme can change later without guessing.
 */
export interface SecretBox {
  /** Seals `plain`; `context` (what the value is, e.g. `repo\0upstream.password`) is bound as associated data. */
  seal(plain: string, context: string): string
  /** Opens what seal() returned for the same context; StorageError when the key or context differs or the text was altered. */
  open(sealed: string, context: string): string
}

/** File in the data dir holding the node's secret key (64 hex digits, mode 0600), unless `AK_SECRET_KEY_FILE` names another. */
export const SECRET_KEY_FILE = 'secret-key'
/** Bytes of an AES-256 key. */
export const SECRET_KEY_BYTES = 32
/** Prefix of every sealed value: `ak-sealed:v1:` + base64(iv ‖ tag ‖ ciphertext). */
export const SEALED_PREFIX = 'ak-sealed:v1:'
/** GCM nonce bytes (NIST SP 800-38D: 96 bits, random per message). */
const IV_BYTES = 12
/** GCM tag bytes. */
const TAG_BYTES = 16

/** Whether `value` is a sealed secret (as opposed to legacy plain text). */
export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(SEALED_PREFIX)
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== SECRET_KEY_BYTES) throw new StorageError(`a secret key has ${SECRET_KEY_BYTES} bytes, not ${key.length}`)
  return {
    seal(plain, context) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.setAAD(Buffer.from(context, 'utf8'))
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')
    },
    open(sealed, context) {
      if (!isSealed(sealed)) throw new StorageError(`${context.replace(/\0/g, ' ')}: not a sealed value`)
      const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64')
      if (raw.length < IV_BYTES + TAG_BYTES) throw new StorageError(`${context.replace(/\0/g, ' ')}: sealed value is truncated`)
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES))
        decipher.setAAD(Buffer.from(context, 'utf8'))
        decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
      } catch {
        throw new StorageError(
          `${context.replace(/\0/g, ' ')}: cannot decrypt with this node's secret key (was the secret key file replaced? restore it or set AK_SECRET_KEY_FILE)`,
        )
      }
    },
  }
}

function parseKey(text: Buffer, file: string): Buffer {
  const hex = text.toString('utf8').trim()
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return Buffer.from(hex, 'hex')
  if (text.length === SECRET_KEY_BYTES) return Buffer.from(text)
  throw new StorageError(`secret key file ${file} must hold ${SECRET_KEY_BYTES} bytes as 64 hex digits (e.g. \`openssl rand -hex 32\`)`)
}

export interface SecretKeyOptions {
  /** Create the file (0600) when it does not exist; else a missing file is an error. @default true */
  create?: boolean
}

/**
 * Reads the node's secret key from `file`, creating it on first use: 32 random bytes written as
 * hex, mode 0600, published by a hard link so that two processes starting at once agree on one key.
 */
export function loadOrCreateSecretKey(file: string, options: SecretKeyOptions = {}): Buffer {
  try {
    return parseKey(readFileSync(file), file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof StorageError) throw err
      throw new StorageError(`cannot read secret key file ${file}: ${(err as Error).message}`)
    }
    if (options.create === false) {
      throw new StorageError(`secret key file ${file} does not exist (create it with \`openssl rand -hex 32 > ${file}; chmod 600 ${file}\`)`)
    }
  }
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    writeFileSync(temp, `${randomBytes(SECRET_KEY_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx', flush: true })
    chmodSync(temp, 0o600)
    try {
      linkSync(temp, file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  } finally {
    try {
      unlinkSync(temp)
    } catch {
      // never written
    }
  }
  return parseKey(readFileSync(file), file)
}
