import type { FastifyReply, FastifyRequest } from 'fastify'
import type { BlobRecord, BlobStore, ByteRange } from '../../store/index.ts'
import { RangeNotSatisfiableError } from '../../store/index.ts'
import { artifactHeaders } from './active-content.ts'

export interface ServedFile {
  blob: BlobRecord
  /** The stored type; active and unknown types go out as application/octet-stream (active-content.ts). */
  contentType: string
  lastModified: number
  /**
   * Send active content types (HTML, SVG, XML…) as themselves: the addressed repository's
   * settings.serveActiveContent (servesActiveContent). @default false
   */
  serveActiveContent?: boolean
}

/**
 * Parses a single-range `Range: bytes=…` header (RFC 9110 §14.1.2). Returns undefined to send
 * the whole body (no header, another unit, or several ranges, which we may ignore), and throws
 * RangeNotSatisfiableError when no byte of the range exists.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m) return undefined
  const [, a, b] = m as unknown as [string, string, string]
  if (a === '' && b === '') return undefined
  let start: number
  let end: number
  if (a === '') {
    const suffix = Number(b)
    if (suffix === 0) throw new RangeNotSatisfiableError(`range ${header} selects no bytes`, { size })
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(a)
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
    if (b !== '' && Number(b) < start) return undefined
  }
  if (start >= size || size === 0) throw new RangeNotSatisfiableError(`range ${header} is outside the ${size} bytes`, { size })
  return { start, end }
}

/** The headers that carry a blob's checksums, as Artifactory and Nexus send them. */
export function checksumHeaders(blob: BlobRecord): Record<string, string> {
  return {
    'x-checksum-sha256': blob.sha256,
    'x-checksum-sha1': blob.sha1,
    'x-checksum-md5': blob.md5,
  }
}

/** One entity tag in a list (RFC 9110 §8.8.3): optional W/ and a quoted opaque tag, which may hold commas. */
const ENTITY_TAG = /(W\/)?"([^"]*)"/g

/**
 * Whether an If-None-Match header matches the representation whose ETag is `etag`
 * (RFC 9110 §13.1.2): `*` matches any current representation; otherwise the header is a list of
 * entity tags, compared weakly (a W/ prefix on either side is ignored). Repeated headers, as
 * some clients send, count as one list.
 */
export function etagMatches(header: string | readonly string[] | undefined, etag: string): boolean {
  if (header === undefined) return false
  const value = typeof header === 'string' ? header : header.join(', ')
  if (value.trim() === '*') return true
  const want = opaqueTag(etag)
  if (want === undefined) return false
  for (const m of value.matchAll(ENTITY_TAG)) if (m[2] === want) return true
  return false
}

function opaqueTag(etag: string): string | undefined {
  const m = /^(?:W\/)?"([^"]*)"$/.exec(etag.trim())
  return m?.[1]
}

/**
 * Whether a GET/HEAD may be answered 304 Not Modified (RFC 9110 §13.2.2): If-None-Match decides
 * when present (weak comparison); otherwise If-Modified-Since against `lastModifiedMs`, at the
 * one-second resolution of an HTTP date. Formats call this after setting ETag and Last-Modified,
 * so the 304 carries them.
 */
export function notModified(request: FastifyRequest, etag: string, lastModifiedMs?: number): boolean {
  const inm = request.headers['if-none-match']
  if (inm !== undefined) return etagMatches(inm, etag)
  const ims = request.headers['if-modified-since']
  if (ims === undefined || lastModifiedMs === undefined) return false
  const since = Date.parse(ims)
  return !Number.isNaN(since) && since >= Math.floor(lastModifiedMs / 1000) * 1000
}

/**
 * Sends a stored blob: ETag (the sha256), Last-Modified, conditional requests (If-None-Match,
 * If-Modified-Since, If-Range) and single byte ranges, streamed from the store. Every answer
 * carries the artifact headers (nosniff, the sandboxing CSP, and a neutralised type for active
 * content): `extraHeaders` cannot override them.
 */
export async function sendBlob(
  request: FastifyRequest,
  reply: FastifyReply,
  blobs: BlobStore,
  file: ServedFile,
  extraHeaders: Record<string, string> = {},
): Promise<FastifyReply> {
  const { blob } = file
  const etag = `"${blob.sha256}"`
  const lastModified = new Date(Math.floor(file.lastModified / 1000) * 1000)
  reply.headers({
    etag,
    'last-modified': lastModified.toUTCString(),
    'accept-ranges': 'bytes',
    ...checksumHeaders(blob),
    ...extraHeaders,
    ...artifactHeaders(file.contentType, file.serveActiveContent),
  })
  if (notModified(request, etag, lastModified.getTime())) return reply.code(304).send()
  let range: ByteRange | undefined
  const ifRange = request.headers['if-range'] as string | undefined
  if (ifRange === undefined || ifRange === etag || Date.parse(ifRange) >= lastModified.getTime()) {
    try {
      range = parseRange(request.headers.range, blob.size)
    } catch (err) {
      reply.header('content-range', `bytes */${blob.size}`)
      throw err
    }
  }
  if (range) {
    reply.code(206)
    reply.header('content-range', `bytes ${range.start}-${range.end}/${blob.size}`)
    reply.header('content-length', String(range.end - range.start + 1))
  } else {
    reply.header('content-length', String(blob.size))
  }
  if (request.method === 'HEAD') return reply.send()
  if (blob.size === 0) return reply.send('')
  const stream = await blobs.open(blob.sha256, range)
  return reply.send(stream)
}
