import type { HaveMap } from './types.ts'

/** An empty have-bitmap for `chunks` chunks (bit i = byte i >> 3, mask 1 << (i & 7)). */
export function emptyBitmap(chunks: number): Uint8Array {
  return new Uint8Array(Math.ceil(chunks / 8))
}

export function hasBit(bitmap: Uint8Array, i: number): boolean {
  return ((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) !== 0
}

export function setBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) | (1 << (i & 7))
}

export function clearBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) & ~(1 << (i & 7))
}

export function countBits(bitmap: Uint8Array, chunks: number): number {
  let n = 0
  for (let i = 0; i < chunks; i++) if (hasBit(bitmap, i)) n++
  return n
}

/** Whether a have-map (as a source answered it) covers chunk i. */
export function haveHas(have: HaveMap | undefined, i: number): boolean {
  if (have === undefined) return false
  if (have === 'all') return true
  return hasBit(have, i)
}
