import type { FastifyReply, FastifyRequest } from 'fastify'
import type { BlobRecord, BlobStore, ByteRange } from '../../store/index.ts'
import { RangeNotSatisfiableError } from '../../store/index.ts'

export interface ServedFile {
  blob: BlobRecord
  contentType: string
  lastModified: number
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

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)
}

/**
 * Sends a stored blob: ETag (the sha256), Last-Modified, conditional requests (If-None-Match,
 * If-Modified-Since, If-Range) and single byte ranges, streamed from the store.
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
    'content-type': file.contentType,
    ...checksumHeaders(blob),
    ...extraHeaders,
  })
  const inm = request.headers['if-none-match']
  const ims = request.headers['if-modified-since']
  if (inm !== undefined ? etagMatches(inm, etag) : ims !== undefined && Date.parse(ims) >= lastModified.getTime()) {
    return reply.code(304).send()
  }
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
