import { z } from 'zod'
import type { SignedEvent } from '../../store/index.ts'
import { MAX_BATCH_EVENTS } from './constants.ts'

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
  z.object({ type: z.literal('events'), events: z.array(wireEvent).min(1).max(MAX_BATCH_EVENTS) }).strict(),
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

const utf8 = new TextDecoder('utf-8', { fatal: true })

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(bytes))
  } catch {
    throw new SyncProtocolError('message is not UTF-8 JSON', 'malformed')
  }
}

function validate<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown): T {
  const r = schema.safeParse(value)
  if (!r.success) throw new SyncProtocolError(`bad message: ${r.error.issues[0]?.message ?? 'invalid'} at ${r.error.issues[0]?.path.join('.')}`, 'malformed')
  return r.data
}

export function decode<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, bytes: Uint8Array): T {
  return validate(schema, parseJson(bytes))
}

/**
 * decode(serverMessage, bytes), with the hot message (a batch of events, several per catch-up
 * second) checked by isEventsMessage instead of zod: the same rules, about ten times cheaper.
 * Anything it does not accept goes through the zod schema, which stays the definition (and words
 * the error).
 */
export function decodeServerMessage(bytes: Uint8Array): ServerMessage {
  const value = parseJson(bytes)
  if (isEventsMessage(value)) return value
  return validate(serverMessage, value)
}

const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]+$/
const SHA256_HEX = /^[0-9a-f]{64}$/
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{86}==$/
const EVENT_KINDS: ReadonlySet<unknown> = new Set(wireEvent.shape.kind.options)
const EVENT_KEYS = Object.keys(wireEvent.shape)

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const hasExactly = (v: Record<string, unknown>, keys: readonly string[]): boolean => {
  let n = 0
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue
    n++
  }
  return n === keys.length && keys.every((k) => Object.hasOwn(v, k))
}
const isCount = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= Number.MAX_SAFE_INTEGER
const isText = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max

/** One wire event, exactly as the wireEvent schema accepts it. */
function isWireEvent(v: unknown): v is WireEvent {
  if (!isObject(v) || !hasExactly(v, EVENT_KEYS)) return false
  const hlc = v.hlc
  return (
    isText(v.origin, 1, 128) &&
    PEER_ID.test(v.origin) &&
    isCount(v.seq, 1) &&
    isObject(hlc) &&
    hasExactly(hlc, ['ms', 'counter']) &&
    isCount(hlc.ms, 0) &&
    isCount(hlc.counter, 0) &&
    isText(v.repo, 1, 256) &&
    EVENT_KINDS.has(v.kind) &&
    (v.path === null || isText(v.path, 1, 4096)) &&
    (v.sha256 === null || (typeof v.sha256 === 'string' && SHA256_HEX.test(v.sha256))) &&
    isText(v.payload, 0, 4 * 1024 * 1024) &&
    typeof v.signature === 'string' &&
    SIGNATURE_BASE64.test(v.signature)
  )
}

/** {type:'events', events:[1…500 wire events]}, exactly as the serverMessage schema accepts it. */
export function isEventsMessage(v: unknown): v is Extract<ServerMessage, { type: 'events' }> {
  if (!isObject(v) || v.type !== 'events' || !hasExactly(v, ['type', 'events'])) return false
  const events = v.events
  return Array.isArray(events) && events.length >= 1 && events.length <= MAX_BATCH_EVENTS && events.every(isWireEvent)
}

export function toWire(e: SignedEvent): WireEvent | undefined {
  if (!e.signature) return undefined
  // The chain value is never sent: every receiver recomputes it (mesh/sync/chain.ts).
  const signature = Buffer.from(e.signature.buffer, e.signature.byteOffset, e.signature.byteLength).toString('base64')
  return { origin: e.origin, seq: e.seq, hlc: e.hlc, repo: e.repo, kind: e.kind, path: e.path, sha256: e.sha256, payload: e.payload, signature }
}

/** The signature decodes into a slice of Node's shared Buffer pool (no memory of its own per event). */
export function fromWire(e: WireEvent): SignedEvent {
  return { origin: e.origin, seq: e.seq, hlc: e.hlc, repo: e.repo, kind: e.kind, path: e.path, sha256: e.sha256, payload: e.payload, signature: Buffer.from(e.signature, 'base64') }
}

/** The length-prefix errors of @libp2p/utils lpStream: an oversized or garbled frame is a protocol violation too. */
const FRAMING_ERRORS = new Set(['InvalidDataLengthError', 'InvalidMessageLengthError', 'InvalidDataLengthLengthError'])

/** `err` as a SyncProtocolError when the peer caused it (bad frame or message), else unchanged. */
export function asProtocolError(err: unknown): unknown {
  if (err instanceof Error && FRAMING_ERRORS.has(err.name)) return new SyncProtocolError(`bad frame: ${err.message}`, 'malformed')
  return err
}
