import { describe, expect, it } from 'vitest'
import type { FastifyRequest } from 'fastify'
import { mustCloseConnection, DRAIN_MAX_BYTES } from '../../../formats/core/index.ts'
import { BodyTooLargeError, InvalidInputError, UploadTooSlowError } from '../../../store/index.ts'

// A refused PyPI upload whose body was still arriving was answered with `Connection: close`; the
// unread bytes made the kernel reset the socket and the client lost the 400 ("fetch failed" in CI).
// Small announced bodies are now left to Node to read to the end; the rest still close.
const request = (complete: boolean, contentLength?: number) =>
  ({ raw: { complete }, headers: contentLength === undefined ? {} : { 'content-length': String(contentLength) } }) as unknown as FastifyRequest

describe('mustCloseConnection', () => {
  it('keeps a connection whose body is complete', () => {
    expect(mustCloseConnection(request(true, 10), new InvalidInputError('x'))).toBe(false)
  })
  it('keeps a connection with a small announced body still arriving (Node reads the rest)', () => {
    expect(mustCloseConnection(request(false, DRAIN_MAX_BYTES), new InvalidInputError('x'))).toBe(false)
  })
  it('closes on a large or unannounced body still arriving', () => {
    expect(mustCloseConnection(request(false, DRAIN_MAX_BYTES + 1), new InvalidInputError('x'))).toBe(true)
    expect(mustCloseConnection(request(false), new InvalidInputError('x'))).toBe(true)
  })
  it('closes on a body over the limit or too slow, whatever its size', () => {
    expect(mustCloseConnection(request(false, 10), new BodyTooLargeError('x'))).toBe(true)
    expect(mustCloseConnection(request(false, 10), new UploadTooSlowError('x'))).toBe(true)
  })
})
