import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'

/*
 * Event signatures use node:crypto directly rather than the libp2p key objects: the signer runs
 * inside an SQLite transaction (synchronous), and verification runs once per received event,
 * where a cached KeyObject per origin is much cheaper than a key import each time.
 */

/** A synchronous Ed25519 signer for the node's libp2p key (what openStore's `sign` expects). */
export function createEventSigner(privateKey: PrivateKey): (bytes: Uint8Array) => Uint8Array {
  const key = ed25519PrivateKeyObject(privateKey)
  return (bytes) => new Uint8Array(sign(null, bytes, key))
}

/** The node's libp2p Ed25519 key as a node:crypto KeyObject (for node:crypto and jose). */
export function ed25519PrivateKeyObject(privateKey: PrivateKey): KeyObject {
  if (privateKey.type !== 'Ed25519') throw new Error(`signing needs an Ed25519 node key, not ${privateKey.type}`)
  const raw = privateKey.raw
  return createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(raw.subarray(0, 32)).toString('base64url'),
      x: Buffer.from(privateKey.publicKey.raw).toString('base64url'),
    },
  })
}

const publicKeys = new Map<string, KeyObject | null>()

/** The Ed25519 public key embedded in a peer ID, or null when the ID embeds none (or is not an ID). */
export function publicKeyOf(peerId: string): KeyObject | null {
  let key = publicKeys.get(peerId)
  if (key !== undefined) return key
  key = null
  try {
    const id = peerIdFromString(peerId)
    if (id.type === 'Ed25519' && id.publicKey) {
      key = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(id.publicKey.raw).toString('base64url') } })
    }
  } catch {
    key = null
  }
  if (publicKeys.size > 10_000) publicKeys.clear()
  publicKeys.set(peerId, key)
  return key
}

/** Whether `signature` over `bytes` was made by the key behind `peerId`. */
export function verifyBy(peerId: string, bytes: Uint8Array, signature: Uint8Array): boolean {
  const key = publicKeyOf(peerId)
  if (!key || signature.length !== 64) return false
  try {
    return verify(null, bytes, key, signature)
  } catch {
    return false
  }
}
