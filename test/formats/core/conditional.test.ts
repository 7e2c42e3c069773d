import type { FastifyRequest } from 'fastify'
import { describe, expect, it } from 'vitest'
import { etagMatches, notModified } from '../../../formats/core/index.ts'

/** The one If-None-Match / If-Modified-Since helper every format's metadata routes use (pure logic). */
describe('etagMatches: If-None-Match weak comparison (RFC 9110 §13.1.2)', () => {
  const tag = '"abc123"'

  it('matches the exact tag, the tag anywhere in a list, and *', () => {
    expect(etagMatches(tag, tag)).toBe(true)
    expect(etagMatches(`"x", ${tag}, "y"`, tag)).toBe(true)
    expect(etagMatches(`"x",${tag}`, tag)).toBe(true)
    expect(etagMatches('*', tag)).toBe(true)
    expect(etagMatches('  *  ', tag)).toBe(true)
  })

  it('ignores W/ on either side', () => {
    expect(etagMatches(`W/${tag}`, tag)).toBe(true)
    expect(etagMatches(tag, `W/${tag}`)).toBe(true)
    expect(etagMatches(`"x", W/${tag}`, `W/${tag}`)).toBe(true)
  })

  it('does not match other tags, prefixes, unquoted values or an absent header', () => {
    expect(etagMatches('"abc12"', tag)).toBe(false)
    expect(etagMatches('"abc1234"', tag)).toBe(false)
    expect(etagMatches('abc123', tag)).toBe(false)
    expect(etagMatches('"x", "y"', tag)).toBe(false)
    expect(etagMatches('', tag)).toBe(false)
    expect(etagMatches(undefined, tag)).toBe(false)
    expect(etagMatches('"x", *', tag)).toBe(false)
  })

  it('reads a comma inside a quoted tag as part of the tag, and repeated headers as one list', () => {
    expect(etagMatches('"a,b"', '"a,b"')).toBe(true)
    expect(etagMatches('"a,b"', '"a"')).toBe(false)
    expect(etagMatches(['"x"', tag], tag)).toBe(true)
    expect(etagMatches(['"x"', '"y"'], tag)).toBe(false)
  })
})

describe('notModified: which validator decides a 304', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as FastifyRequest
  const modified = Date.parse('2024-05-01T10:00:00.750Z')

  it('uses If-Modified-Since at one-second resolution when no If-None-Match is sent', () => {
    expect(notModified(req({ 'if-modified-since': 'Wed, 01 May 2024 10:00:00 GMT' }), '"t"', modified)).toBe(true)
    expect(notModified(req({ 'if-modified-since': 'Wed, 01 May 2024 09:59:59 GMT' }), '"t"', modified)).toBe(false)
    expect(notModified(req({ 'if-modified-since': 'not a date' }), '"t"', modified)).toBe(false)
    expect(notModified(req({ 'if-modified-since': 'Wed, 01 May 2024 10:00:00 GMT' }), '"t"')).toBe(false)
    expect(notModified(req({}), '"t"', modified)).toBe(false)
  })

  it('lets If-None-Match decide when both are sent', () => {
    const ims = 'Wed, 01 May 2024 10:00:00 GMT'
    expect(notModified(req({ 'if-none-match': '"other"', 'if-modified-since': ims }), '"t"', modified)).toBe(false)
    expect(notModified(req({ 'if-none-match': 'W/"t"', 'if-modified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' }), '"t"', modified)).toBe(true)
  })
})
