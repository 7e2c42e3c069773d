import { z } from 'zod'
import type { SignedEvent } from '../../store/index.ts'

/*
 * Wire format of /ak/sync/1.0.0: length-prefixed (unsigned varint) UTF-8 JSON messages.
 *   puller → server: {type:'pull', versionVector} | {type:'notify', versionVector?}
 *   server → puller: {type:'events', events:[WireEvent…]}* then {type:'done', versionVector?}
 * The optional version vectors advertise what the sender holds (per-origin lag; a 'done' whose
 * vector is above what the puller now holds means the server capped the pull: pull again).
 * Events travel as stored: payload is the exact JSON text the origin signed.
 */

const peerIdText = z.string().min(1).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
/** A version vector as it travels; the request limit (MAX_REQUEST_BYTES) bounds its size. */
const versionVector = z.record(peerIdText, count)

export const pullRequest = z.discriminatedUnion('type', [
  z.object({ type: z.literal('pull'), versionVector }).strict(),
  z.object({ type: z.literal('notify'), versionVector: versionVector.optional() }).strict(),
])
export type PullRequest = z.infer<typeof pullRequest>

const wireEvent = z
  .object({
    origin: peerIdText,
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    hlc: z.object({ ms: count, counter: count }).strict(),
    repo: z.string().min(1).max(256),
    kind: z.enum(['repo.create', 'repo.update', 'repo.delete', 'artifact.put', 'artifact.delete', 'pointer.set', 'pointer.delete']),
    path: z.string().min(1).max(4096).nullable(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
    payload: z.string().max(4 * 1024 * 1024),
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
  })
  .strict()
export type WireEvent = z.infer<typeof wireEvent>

export const serverMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('events'), events: z.array(wireEvent).min(1).max(500) }).strict(),
  z.object({ type: z.literal('done'), versionVector: versionVector.optional() }).strict(),
])
export type ServerMessage = z.infer<typeof serverMessage>

/** A protocol violation by the remote peer: the stream is reset and the peer penalised. */
export class SyncProtocolError extends Error {
  override readonly name = 'SyncProtocolError'
  constructor(
    message: string,
    readonly reason: 'malformed' | 'forged',
  ) {
    super(message)
  }
}

export function encode(message: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message))
}

export function decode<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, bytes: Uint8Array): T {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new SyncProtocolError('message is not UTF-8 JSON', 'malformed')
  }
  const r = schema.safeParse(value)
  if (!r.success) throw new SyncProtocolError(`bad message: ${r.error.issues[0]?.message ?? 'invalid'} at ${r.error.issues[0]?.path.join('.')}`, 'malformed')
  return r.data
}

export function toWire(e: SignedEvent): WireEvent | undefined {
  if (!e.signature) return undefined
  // The chain value is never sent: every receiver recomputes it (mesh/sync/chain.ts).
  const { chain: _chain, ...rest } = e
  return { ...rest, signature: Buffer.from(e.signature).toString('base64') }
}

export function fromWire(e: WireEvent): SignedEvent {
  return { ...e, signature: new Uint8Array(Buffer.from(e.signature, 'base64')) }
}

/** The length-prefix errors of @libp2p/utils lpStream: an oversized or garbled frame is a protocol violation too. */
const FRAMING_ERRORS = new Set(['InvalidDataLengthError', 'InvalidMessageLengthError', 'InvalidDataLengthLengthError'])

/** `err` as a SyncProtocolError when the peer caused it (bad frame or message), else unchanged. */
export function asProtocolError(err: unknown): unknown {
  if (err instanceof Error && FRAMING_ERRORS.has(err.name)) return new SyncProtocolError(`bad frame: ${err.message}`, 'malformed')
  return err
}
