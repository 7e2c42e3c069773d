import type { FastifyInstance, FastifyRequest } from 'fastify'
import { BodyTooLargeError, InvalidInputError, type ExpectedDigests } from '../../store/index.ts'

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
