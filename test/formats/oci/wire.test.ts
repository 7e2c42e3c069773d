import { describe, expect, it } from 'vitest'
import {
  ALL_DOMAIN_CODES,
  matchRoute,
  mergeSorted,
  paginate,
  parseContentRange,
  parseDigest,
  parseName,
  parsePage,
  parseReference,
  toOciError,
  WIRE_ERRORS,
} from '../../../formats/oci/index.ts'
import { DigestMismatchError, ForbiddenError, UnauthorizedError } from '../../../store/index.ts'

const SPEC_CODES = [
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED',
  'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
]
const HEX = 'a'.repeat(64)

describe('OCI error table', () => {
  it('maps every domain error code, and only to spec codes (UNKNOWN for server faults)', () => {
    for (const code of ALL_DOMAIN_CODES) expect(WIRE_ERRORS[code], code).toBeDefined()
    for (const [code, row] of Object.entries(WIRE_ERRORS)) {
      if (row.status >= 500) expect(row.code, code).toBe('UNKNOWN')
      else expect(SPEC_CODES, code).toContain(row.code)
    }
    expect(new Set(ALL_DOMAIN_CODES).size).toBe(ALL_DOMAIN_CODES.length)
  })

  it('renders domain errors as {errors:[{code,message,detail}]}', () => {
    expect(toOciError(new UnauthorizedError('who are you'))).toEqual({
      status: 401,
      body: { errors: [{ code: 'UNAUTHORIZED', message: 'who are you' }] },
    })
    expect(toOciError(new ForbiddenError('no')).status).toBe(403)
    const mismatch = toOciError(new DigestMismatchError('bad', { algorithm: 'sha256', expected: 'x', actual: 'y' }))
    expect(mismatch.body.errors[0]).toEqual({ code: 'DIGEST_INVALID', message: 'bad', detail: { algorithm: 'sha256', expected: 'x', actual: 'y' } })
    expect(toOciError(new Error('boom'))).toEqual({ status: 500, body: { errors: [{ code: 'UNKNOWN', message: 'internal error; see the node log' }] } })
  })
})

describe('OCI names, references and routes', () => {
  it('splits a name into repository key and image', () => {
    expect(parseName('images/team/app')).toEqual({ full: 'images/team/app', repo: 'images', image: 'team/app' })
    expect(parseName('r/a.b_c__d--e')).toMatchObject({ image: 'a.b_c__d--e' })
  })

  it.each([['images'], ['images/App'], ['images/-app'], ['images/app/'], ['images//app'], ['Images/app'], ['images/a..b'], [`r/${'a'.repeat(260)}`]])(
    "refuses the name '%s' with NAME_INVALID",
    (name) => {
      expect(() => parseName(name)).toThrow(expect.objectContaining({ code: 'OCI_NAME_INVALID' }))
    },
  )

  it('parses tags and sha256 digests, refusing other algorithms and malformed digests', () => {
    expect(parseReference('v1.0_rc-1')).toEqual({ kind: 'tag', tag: 'v1.0_rc-1' })
    expect(parseReference(`sha256:${HEX}`)).toEqual({ kind: 'digest', digest: `sha256:${HEX}`, hex: HEX })
    expect(() => parseReference('.hidden')).toThrow(expect.objectContaining({ code: 'OCI_MANIFEST_UNKNOWN' }))
    expect(() => parseReference('x'.repeat(129))).toThrow()
    expect(() => parseDigest(`sha512:${'b'.repeat(128)}`)).toThrow(/not supported/)
    expect(() => parseDigest('sha256:ABC')).toThrow(expect.objectContaining({ code: 'OCI_DIGEST_INVALID' }))
  })

  it('matches every endpoint of the spec, the name being everything before the endpoint', () => {
    expect(matchRoute('r/a/b/manifests/latest')).toEqual({ kind: 'manifest', name: 'r/a/b', reference: 'latest' })
    expect(matchRoute('r/a/blobs/uploads/')).toEqual({ kind: 'uploads', name: 'r/a' })
    expect(matchRoute('r/a/blobs/uploads')).toEqual({ kind: 'uploads', name: 'r/a' })
    expect(matchRoute('r/a/blobs/uploads/u-1')).toEqual({ kind: 'upload', name: 'r/a', uuid: 'u-1' })
    expect(matchRoute(`r/a/blobs/sha256:${HEX}`)).toEqual({ kind: 'blob', name: 'r/a', digest: `sha256:${HEX}` })
    expect(matchRoute('r/a/tags/list')).toEqual({ kind: 'tags', name: 'r/a' })
    expect(matchRoute(`r/a/referrers/sha256:${HEX}`)).toEqual({ kind: 'referrers', name: 'r/a', digest: `sha256:${HEX}` })
    // An image may itself be called 'blobs'.
    expect(matchRoute('r/blobs/manifests/v1')).toEqual({ kind: 'manifest', name: 'r/blobs', reference: 'v1' })
    expect(() => matchRoute('r/a/whatever')).toThrow(expect.objectContaining({ code: 'AK_NOT_FOUND' }))
    expect(() => matchRoute('r/%2e%2e/manifests/v1')).toThrow(expect.objectContaining({ code: 'OCI_NAME_INVALID' }))
  })
})

describe('Content-Range of upload chunks', () => {
  it('accepts the spec form and the RFC 9110 form', () => {
    expect(parseContentRange('0-99')).toEqual({ start: 0, end: 99 })
    expect(parseContentRange('bytes 100-199/*')).toEqual({ start: 100, end: 199 })
    expect(parseContentRange('bytes=5-9')).toEqual({ start: 5, end: 9 })
    expect(parseContentRange(undefined)).toBeUndefined()
  })
  it.each([['10-5'], ['abc'], ['-5'], ['1-2-3']])("refuses '%s' with BLOB_UPLOAD_INVALID", (h) => {
    expect(() => parseContentRange(h)).toThrow(expect.objectContaining({ code: 'OCI_BLOB_UPLOAD_INVALID' }))
  })
})

describe('pagination', () => {
  const tags = ['1.0', '1.1', '2.0', 'latest', 'stable']
  const page = (q: string) => parsePage(new URLSearchParams(q))

  it('returns n entries after last and links the next page while more remain', () => {
    expect(paginate(tags, page('n=2'), '/v2/r/a/tags/list')).toEqual({
      items: ['1.0', '1.1'],
      link: '</v2/r/a/tags/list?n=2&last=1.1>; rel="next"',
    })
    expect(paginate(tags, page('n=2&last=1.1'), '/p').items).toEqual(['2.0', 'latest'])
    expect(paginate(tags, page('n=2&last=latest'), '/p')).toEqual({ items: ['stable'], link: undefined })
    // last need not be an entry: the page starts after where it would sort.
    expect(paginate(tags, page('last=1.5'), '/p').items).toEqual(['2.0', 'latest', 'stable'])
    expect(paginate(tags, page('n=0'), '/p')).toEqual({ items: [], link: undefined })
    expect(paginate(tags, page(''), '/p')).toEqual({ items: tags, link: undefined })
  })

  it('refuses a non-numeric n', () => {
    expect(() => page('n=ten')).toThrow(expect.objectContaining({ code: 'OCI_PAGINATION_INVALID' }))
    expect(() => page('n=-1')).toThrow()
  })

  it('merges the sorted lists of a virtual repository\'s members without duplicates', () => {
    expect(mergeSorted([['a', 'c'], ['b', 'c', 'd']])).toEqual(['a', 'b', 'c', 'd'])
  })
})
