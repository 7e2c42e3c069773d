import { z } from 'zod'
import type { ChunkManifest, HaveMap } from '../../scheduler/index.ts'
import { MAX_CHUNK_BYTES } from './constants.ts'

/*
 * Wire format of /ak/chunk/1.0.0: one request per stream, length-prefixed (unsigned varint) frames.
 *   requester → server: one JSON request frame:
 *     {type:'info'} | {type:'have', sha256} | {type:'manifest', sha256} | {type:'chunk', sha256, index} | {type:'watch', sha256}
 *   server → requester, JSON frames:
 *     info     → {type:'info', httpUrl, inFlight, maxInFlight}
 *     have     → {type:'have', have}            (have: 'all' | base64 bitmap | null)
 *     manifest → {type:'manifest', manifest}    (manifest: WireManifest | null)
 *     chunk    → {type:'chunk', length} then ONE raw frame of exactly `length` bytes, or {type:'missing'}
 *     watch    → {type:'have', have} now, then again each time it grows, until either side closes
 *     any      → {type:'error', code:'busy'|'internal', message} when the server cannot answer
 * The HTTP transport (GET /api/v1/chunks/…) carries the same JSON shapes for have and manifest.
 */

export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'not a lowercase sha256 hex digest')
const chunkIndex = z.number().int().min(0).max(2 ** 31)

export const chunkRequest = z.discriminatedUnion('type', [
  z.object({ type: z.literal('info') }).strict(),
  z.object({ type: z.literal('have'), sha256: sha256Hex }).strict(),
  z.object({ type: z.literal('manifest'), sha256: sha256Hex }).strict(),
  z.object({ type: z.literal('chunk'), sha256: sha256Hex, index: chunkIndex }).strict(),
  z.object({ type: z.literal('watch'), sha256: sha256Hex }).strict(),
])
export type ChunkRequest = z.infer<typeof chunkRequest>

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64')

/** A manifest on the wire: the chunk digests as base64 of their concatenated 32-byte values. */
export const wireManifest = z
  .object({
    sha256: sha256Hex,
    size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    chunkSize: z.number().int().min(1).max(MAX_CHUNK_BYTES),
    chunks: base64,
  })
  .strict()
export type WireManifest = z.infer<typeof wireManifest>

export const wireHave = z.union([z.literal('all'), base64]).nullable()
export type WireHave = z.infer<typeof wireHave>

export const infoResponse = z
  .object({
    type: z.literal('info'),
    httpUrl: z.string().url().max(2048).nullable(),
    inFlight: z.number().int().min(0),
    maxInFlight: z.number().int().min(0),
  })
  .strict()
export type InfoResponse = z.infer<typeof infoResponse>

const errorResponse = z.object({ type: z.literal('error'), code: z.enum(['busy', 'internal']), message: z.string().max(1024) }).strict()

export const haveResponse = z.discriminatedUnion('type', [z.object({ type: z.literal('have'), have: wireHave }).strict(), errorResponse])
export const manifestResponse = z.discriminatedUnion('type', [
  z.object({ type: z.literal('manifest'), manifest: wireManifest.nullable() }).strict(),
  errorResponse,
])
export const chunkResponse = z.discriminatedUnion('type', [
  z.object({ type: z.literal('chunk'), length: z.number().int().min(0).max(MAX_CHUNK_BYTES) }).strict(),
  z.object({ type: z.literal('missing') }).strict(),
  errorResponse,
])
export const infoOrError = z.discriminatedUnion('type', [infoResponse, errorResponse])

/** A protocol violation by the remote peer: the stream is reset and the peer penalised as 'malformed'. */
export class ChunkProtocolError extends Error {
  override readonly name = 'ChunkProtocolError'
}

export function encode(message: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message))
}

export function decode<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, bytes: Uint8Array): T {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new ChunkProtocolError('message is not UTF-8 JSON')
  }
  return parse(schema, value)
}

export function parse<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown): T {
  const r = schema.safeParse(value)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new ChunkProtocolError(`bad message: ${issue?.message ?? 'invalid'}${issue?.path.length ? ` at ${issue.path.join('.')}` : ''}`)
  }
  return r.data
}

export function haveToWire(have: HaveMap | undefined): WireHave {
  if (have === undefined) return null
  return have === 'all' ? 'all' : Buffer.from(have).toString('base64')
}

export function haveFromWire(have: WireHave): HaveMap | undefined {
  if (have === null) return undefined
  return have === 'all' ? 'all' : new Uint8Array(Buffer.from(have, 'base64'))
}

export function manifestToWire(m: ChunkManifest): WireManifest {
  const raw = Buffer.alloc(m.chunks.length * 32)
  m.chunks.forEach((hex, i) => raw.write(hex, i * 32, 'hex'))
  return { sha256: m.sha256, size: m.size, chunkSize: m.chunkSize, chunks: raw.toString('base64') }
}

/**
 * A manifest as a peer sent it, checked for shape only (a digest list of the length its size
 * implies, for the blob that was asked). Whether its digests are TRUE is the scheduler's check.
 */
export function manifestFromWire(w: WireManifest, asked: string): ChunkManifest {
  if (w.sha256 !== asked) throw new ChunkProtocolError(`manifest is for ${w.sha256}, not the ${asked} asked for`)
  const raw = Buffer.from(w.chunks, 'base64')
  const count = Math.ceil(w.size / w.chunkSize)
  if (raw.length !== count * 32) throw new ChunkProtocolError(`manifest lists ${raw.length / 32} chunks; a ${w.size}-byte blob has ${count}`)
  const chunks: string[] = []
  for (let i = 0; i < count; i++) chunks.push(raw.subarray(i * 32, (i + 1) * 32).toString('hex'))
  return { sha256: w.sha256, size: w.size, chunkSize: w.chunkSize, chunks }
}

/** Length of chunk `index` of a blob, or -1 when the index is outside it. */
export function chunkLength(m: Pick<ChunkManifest, 'size' | 'chunkSize'>, index: number): number {
  const start = index * m.chunkSize
  if (!Number.isInteger(index) || index < 0 || start >= m.size) return -1
  return Math.min(m.chunkSize, m.size - start)
}
