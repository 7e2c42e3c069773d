import { z } from 'zod'
import { BLOOM_MAX_BYTES, BLOOM_MIN_BYTES, MAX_DELTA_DIGESTS, MAX_LABEL_LENGTH, MAX_LABELS } from './constants.ts'

/*
 * Wire format of /ak/have/1.0.0: one long-lived stream per direction and peer, carrying
 * length-prefixed (unsigned varint) UTF-8 JSON messages from the holder to the listener:
 *   {type:'summary', blobs, bloom:{hashes, bits(base64)}, labels, load}   always first; replaces all
 *   {type:'delta', add:[sha256…], remove:[sha256…], load}                  changes since the last message
 *   {type:'status', labels, load}                                          load/labels changed, or keep-alive
 * The listener never writes. Anything else resets the stream and penalises the sender.
 */

const sha256 = z.string().regex(/^[0-9a-f]{64}$/)
const load = z.number().int().min(0).max(1_000_000)
const labels = z
  .record(z.string().min(1).max(MAX_LABEL_LENGTH), z.string().max(MAX_LABEL_LENGTH))
  .refine((l) => Object.keys(l).length <= MAX_LABELS, { message: `at most ${MAX_LABELS} labels` })
// base64 of BLOOM_MIN_BYTES..BLOOM_MAX_BYTES bytes (padded).
const bloomBits = z
  .string()
  .min(Math.ceil(BLOOM_MIN_BYTES / 3) * 4)
  .max(Math.ceil(BLOOM_MAX_BYTES / 3) * 4)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/)

export const haveMessage = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('summary'),
      /** How many blobs the filter holds (informational: sizing, the API). */
      blobs: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      bloom: z.object({ hashes: z.number().int().min(1).max(32), bits: bloomBits }).strict(),
      labels,
      load,
    })
    .strict(),
  z
    .object({
      type: z.literal('delta'),
      add: z.array(sha256).max(MAX_DELTA_DIGESTS),
      remove: z.array(sha256).max(MAX_DELTA_DIGESTS),
      load,
    })
    .strict(),
  z.object({ type: z.literal('status'), labels, load }).strict(),
])
export type HaveMessage = z.infer<typeof haveMessage>

/** A have-protocol violation by the remote peer: the stream is reset and the peer penalised. */
export class HaveProtocolError extends Error {
  override readonly name = 'HaveProtocolError'
}

export function encodeHave(message: HaveMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message))
}

export function decodeHave(bytes: Uint8Array): HaveMessage {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new HaveProtocolError('have message is not UTF-8 JSON')
  }
  const r = haveMessage.safeParse(value)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new HaveProtocolError(`bad have message: ${issue?.message ?? 'invalid'} at ${issue?.path.join('.') ?? ''}`)
  }
  if (r.data.type === 'delta' && r.data.add.length + r.data.remove.length > MAX_DELTA_DIGESTS) {
    throw new HaveProtocolError(`bad have message: more than ${MAX_DELTA_DIGESTS} digests in one delta`)
  }
  return r.data
}
