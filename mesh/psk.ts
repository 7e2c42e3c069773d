import { hkdfSync, randomBytes } from 'node:crypto'
import { PSK_V1_HEADER } from './constants.ts'

/** A mesh key that is not a libp2p pnet v1 key (or its bare 64 hex digits). */
export class InvalidMeshKeyError extends Error {
  override readonly name = 'InvalidMeshKeyError'
  readonly code = 'AK_INVALID_MESH_KEY'
}

/** A new private-network key in the libp2p pnet v1 text format (what `ak mesh keygen` prints). */
export function generateMeshKey(): string {
  return `${PSK_V1_HEADER}${randomBytes(32).toString('hex')}`
}

/**
 * Parses a mesh key given as the pnet v1 text (three lines, as in a `swarm.key` file) or as its
 * bare 64 hex digits (handier in an environment variable), and returns the v1 bytes that
 * @libp2p/pnet expects.
 */
export function parseMeshKey(text: string): Uint8Array {
  const lines = text.trim().split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '')
  let hex: string | undefined
  if (lines.length === 1) hex = lines[0]
  else if (lines.length === 3 && lines[0] === '/key/swarm/psk/1.0.0/' && lines[1] === '/base16/') hex = lines[2]
  if (hex === undefined || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new InvalidMeshKeyError('the mesh key must be a libp2p pnet v1 key (/key/swarm/psk/1.0.0/, /base16/, 64 hex digits), as `ak mesh keygen` prints')
  }
  return new TextEncoder().encode(`${PSK_V1_HEADER}${hex.toLowerCase()}`)
}

/**
 * A key for one purpose derived from the mesh key (HKDF-SHA256 over its 32 secret bytes, no salt,
 * `label` as the info), so that proving the mesh key somewhere other than the pnet handshake
 * (the HTTP chunk transport's peer tokens) never exposes or reuses the key itself.
 * `psk` is the pnet v1 bytes that parseMeshKey returns.
 */
export function deriveMeshSubkey(psk: Uint8Array, label: string): Buffer {
  const text = new TextDecoder().decode(psk)
  const hex = text.startsWith(PSK_V1_HEADER) ? text.slice(PSK_V1_HEADER.length).trim() : ''
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new InvalidMeshKeyError('not a pnet v1 key (use parseMeshKey)')
  return Buffer.from(hkdfSync('sha256', Buffer.from(hex, 'hex'), Buffer.alloc(0), label, 32))
}
