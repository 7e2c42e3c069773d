import { z } from 'zod'
import type { SignedEvent } from '../../store/index.ts'

/*
 * The JSON frames of a bundle. Events travel as the mesh sends them: the payload is the exact
 * JSON text the origin signed, the signature base64 (see mesh/sync messages).
 */

const peerIdText = z.string().min(1).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/)
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/)
const versionVector = z.record(peerIdText, count)

export const bundleHeader = z
  .object({
    format: z.literal('ak-bundle'),
    version: z.literal(1),
    /** The exporting node: the signer of the trailer. */
    peerId: peerIdText,
    created: z.string(),
    /** Events after this vector are in the bundle (the cursor it was exported from; {} = everything). */
    from: versionVector,
    /** …up to this one (the exporter's vector when it started). */
    to: versionVector,
    /** Repositories chosen with --repos, or null for every repository that is not local-only. */
    repos: z.array(z.string()).nullable(),
    /** True when every event of every origin between `from` and `to` is in the bundle (no gaps). */
    complete: z.boolean(),
    counts: z.object({ events: count, blobs: count }).strict(),
    /** Sum of the blob sizes. */
    blobBytes: count,
  })
  .strict()
export type BundleHeader = z.infer<typeof bundleHeader>

const wireEvent = z
  .object({
    origin: peerIdText,
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    hlc: z.object({ ms: count, counter: count }).strict(),
    repo: z.string().min(1).max(256),
    kind: z.enum(['repo.create', 'repo.update', 'repo.delete', 'artifact.put', 'artifact.delete', 'pointer.set', 'pointer.delete']),
    path: z.string().min(1).max(4096).nullable(),
    sha256: sha256Hex.nullable(),
    payload: z.string().max(4 * 1024 * 1024),
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
    /** The chain value of the origin's previous event, which the signature covers (hex). */
    prev: sha256Hex,
  })
  .strict()
export type WireEvent = z.infer<typeof wireEvent>

export const eventsFrame = z.object({ events: z.array(wireEvent).min(1).max(10_000) }).strict()

export const blobMeta = z
  .object({
    sha256: sha256Hex,
    size: count,
    sha1: z.string().regex(/^[0-9a-f]{40}$/),
    md5: z.string().regex(/^[0-9a-f]{32}$/),
    sha512: z.string().regex(/^[0-9a-f]{128}$/),
    /** The 1 MiB chunk digests, hex (32 bytes each). */
    chunkManifest: z.string().regex(/^([0-9a-f]{64})*$/),
  })
  .strict()
export type BlobMeta = z.infer<typeof blobMeta>

export function toWire(e: SignedEvent, prev: Uint8Array): WireEvent {
  if (!e.signature) throw new Error(`event ${e.origin}#${e.seq} is unsigned`)
  return {
    origin: e.origin,
    seq: e.seq,
    hlc: { ms: e.hlc.ms, counter: e.hlc.counter },
    repo: e.repo,
    kind: e.kind,
    path: e.path,
    sha256: e.sha256,
    payload: e.payload,
    signature: Buffer.from(e.signature).toString('base64'),
    prev: Buffer.from(prev).toString('hex'),
  }
}

export function fromWire(w: WireEvent): { event: SignedEvent; prev: Uint8Array } {
  const { prev, signature, ...rest } = w
  return { event: { ...rest, signature: new Uint8Array(Buffer.from(signature, 'base64')) }, prev: new Uint8Array(Buffer.from(prev, 'hex')) }
}

/** The version vector a cursor file holds: {"versionVector": {...}} (what --write-cursor writes) or a bare map. */
export const cursorFile = z.union([z.object({ versionVector }).passthrough(), versionVector])
