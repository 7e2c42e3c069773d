import type { FastifyInstance, FastifyRequest } from 'fastify'
import { BodyTimeoutError, BodyTooLargeError, ClientAbortedError, InvalidInputError, UploadTooSlowError, type ExpectedDigests } from '../../store/index.ts'

/**
 * Makes every body of this (encapsulated) plugin arrive unparsed, so handlers stream
 * request.raw into the store instead of fastify buffering it.
 */
export function streamRawBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
}

/** Announced body length, validated; undefined when the client streams without one. */
export function contentLength(request: FastifyRequest, maxBytes: number): number | undefined {
  const raw = request.headers['content-length']
  if (raw === undefined) return undefined
  if (!/^\d+$/.test(raw)) throw new InvalidInputError(`invalid Content-Length '${raw}'`)
  const n = Number(raw)
  if (n > maxBytes) throw new BodyTooLargeError(`body of ${n} bytes exceeds the maximum of ${maxBytes} bytes`)
  return n
}

const HEX = /^[a-fA-F0-9]+$/

/** Digests a client announced with the upload (X-Checksum-Sha256, -Sha1, -Md5). */
export function expectedDigests(request: FastifyRequest): ExpectedDigests {
  const pick = (name: string, length: number): string | undefined => {
    const v = request.headers[name]
    if (v === undefined) return undefined
    if (typeof v !== 'string' || v.length !== length || !HEX.test(v)) {
      throw new InvalidInputError(`header ${name} must be ${length} hex digits`)
    }
    return v.toLowerCase()
  }
  return {
    sha256: pick('x-checksum-sha256', 64),
    sha1: pick('x-checksum-sha1', 40),
    md5: pick('x-checksum-md5', 32),
  }
}

/** A refused body up to this size is read to its end by Node (keep-alive) instead of closing on it. */
export const DRAIN_MAX_BYTES = 1024 * 1024

/**
 * Whether the answer to a refused request must close the connection: its body is still coming in
 * and it is large, unannounced, over the limit, too slow or silent. A small announced body is left to Node, which
 * reads the rest before the next request on the connection: closing on unread bytes makes the
 * kernel reset the socket, and the client then loses the answer it was sent (seen as a bare
 * "fetch failed" on a refused PyPI upload in CI). Every protocol's error handler asks this.
 */
export function mustCloseConnection(request: FastifyRequest, err: unknown): boolean {
  if (request.raw.complete) return false
  // Never read on for these: too large, too slow, silent, or already gone.
  if (err instanceof BodyTooLargeError || err instanceof UploadTooSlowError || err instanceof BodyTimeoutError || err instanceof ClientAbortedError) return true
  const declared = request.headers['content-length']
  return !(declared !== undefined && /^\d+$/.test(declared) && Number(declared) <= DRAIN_MAX_BYTES)
}
