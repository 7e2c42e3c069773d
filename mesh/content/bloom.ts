import { BLOOM_BITS_PER_ITEM, BLOOM_HASHES, BLOOM_MAX_BYTES, BLOOM_MIN_BYTES } from './constants.ts'

/**
 * A Bloom filter over sha256 digests: a have-summary in ~10 bits per blob. No false negatives
 * (a peer whose filter says no does not hold the blob); about 1% false positives at the
 * default sizing, which only cost the swarm one wasted `have` question.
 *
 * The keys are already uniformly distributed (sha256), so the k bit positions come from the
 * digest's own bytes by double hashing (Kirsch–Mitzenmacher): h1 + i·h2 mod m.
 */
export interface BloomFilter {
  /** Number of bits (m). */
  readonly bits: number
  /** Number of bit positions per key (k). */
  readonly hashes: number
  readonly bytes: Uint8Array
  add(sha256: string): void
  has(sha256: string): boolean
}

/** Bytes of a filter sized for `items` keys, within [BLOOM_MIN_BYTES, BLOOM_MAX_BYTES]. */
export function bloomBytesFor(items: number): number {
  const bytes = Math.ceil((Math.max(0, items) * BLOOM_BITS_PER_ITEM) / 8)
  return Math.min(BLOOM_MAX_BYTES, Math.max(BLOOM_MIN_BYTES, bytes))
}

export function createBloomFilter(byteLength: number, hashes: number = BLOOM_HASHES): BloomFilter {
  return bloomOver(new Uint8Array(byteLength), hashes)
}

/** A filter over existing bits (e.g. received from a peer). */
export function bloomOver(bytes: Uint8Array, hashes: number): BloomFilter {
  if (bytes.length === 0) throw new RangeError('a Bloom filter needs at least one byte')
  if (!Number.isInteger(hashes) || hashes < 1 || hashes > 32) throw new RangeError(`bad Bloom hash count ${hashes}`)
  const m = bytes.length * 8
  const positions = (sha256: string, visit: (bit: number) => boolean): boolean => {
    // Two 32-bit words of the digest; h2 odd so the k positions differ whenever m is a power of two.
    const h1 = Number.parseInt(sha256.slice(0, 8), 16)
    const h2 = (Number.parseInt(sha256.slice(8, 16), 16) | 1) >>> 0
    if (Number.isNaN(h1) || Number.isNaN(h2)) throw new TypeError('Bloom keys are sha256 hex digests')
    for (let i = 0; i < hashes; i++) {
      const bit = (h1 + i * h2) % m
      if (!visit(bit)) return false
    }
    return true
  }
  return {
    bits: m,
    hashes,
    bytes,
    add(sha256) {
      positions(sha256, (bit) => {
        bytes[bit >> 3]! |= 1 << (bit & 7)
        return true
      })
    },
    has(sha256) {
      return positions(sha256, (bit) => ((bytes[bit >> 3] ?? 0) & (1 << (bit & 7))) !== 0)
    },
  }
}
