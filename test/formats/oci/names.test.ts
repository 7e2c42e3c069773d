import { describe, expect, it } from 'vitest'
import { isImageName, matchRoute, ociPathProblem, parseDigest, parseName, parseReference } from '../../../formats/oci/index.ts'

// distribution-spec § Pulling manifests: <name> is
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*, <reference> a tag
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} or a digest (image-spec descriptor.md § Digests).
describe('OCI repository names', () => {
  it('accepts names the spec grammar accepts (the first component is the repository key)', () => {
    for (const n of ['r/a', 'docker-local/library/ubuntu', 'r/a.b', 'r/a_b', 'r/a__b', 'r/a-b', 'r/a---b', 'r/0', 'r/a/b/c/d', 'my.repo/x']) {
      expect(parseName(n).full, n).toBe(n)
    }
  })

  it('refuses capitals, `..`, `.`, separators at an edge or out of the grammar, and names over 255', () => {
    for (const n of ['r/Upper', 'R/a', 'r/..', 'r/.', 'r/a..b', 'r/a___b', 'r/a.-b', 'r/-a', 'r/a-', 'r/_a', 'r/a_', 'r/a//b', 'r/a/', 'r/', 'r', 'a..b/x', 'a./x', 'r/ä', 'r/a b', `r/${'a'.repeat(254)}`]) {
      expect(() => parseName(n), n).toThrow(expect.objectContaining({ code: 'OCI_NAME_INVALID' }))
    }
    expect(isImageName('library/ubuntu')).toBe(true)
    expect(isImageName('Library/ubuntu')).toBe(false)
  })

  it('matches routes on the raw path: `..`, `.` and percent-encoding are refused, never resolved', () => {
    expect(matchRoute('r/a/manifests/latest')).toEqual({ kind: 'manifest', name: 'r/a', reference: 'latest' })
    for (const p of ['r/a/../b/manifests/latest', 'r/../x/blobs/uploads/', 'r/./a/tags/list', 'r/%2e%2e/a/manifests/latest', 'r/a%2fb/manifests/x']) {
      expect(() => matchRoute(p), p).toThrow(expect.objectContaining({ code: 'OCI_NAME_INVALID' }))
    }
  })
})

describe('OCI references', () => {
  it('tags by the spec grammar', () => {
    for (const t of ['latest', 'v1.2.3', '_x', 'A-b_c.d', 'x'.repeat(128)]) expect(parseReference(t)).toEqual({ kind: 'tag', tag: t })
    for (const t of ['-x', '.x', 'x'.repeat(129), 'a/b', 'a+b', '']) expect(() => parseReference(t), t).toThrow()
  })

  it('digests by the digest grammar: sha256 stored, other algorithms well-formed but unsupported', () => {
    const hex = 'a'.repeat(64)
    expect(parseDigest(`sha256:${hex}`)).toBe(hex)
    for (const d of [`sha512:${'a'.repeat(128)}`, 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8']) {
      expect(() => parseDigest(d), d).toThrow(/not supported/)
    }
    for (const d of [`sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, 'sha256:', ':abc', 'SHA256:abc', `sha256:${hex}/..`]) {
      expect(() => parseDigest(d), d).toThrow(/invalid digest|not supported/)
    }
  })
})

describe('OCI paths from peers', () => {
  const hex = 'b'.repeat(64)
  it('accepts blobs, manifests and tags of valid images, and remote tag lists', () => {
    for (const p of [`_blobs/sha256/${hex}`, `library/ubuntu/_manifests/sha256/${hex}`, 'library/ubuntu/_tags/22.04', '.remote/library/ubuntu/tags.json']) {
      expect(ociPathProblem(p), p).toBeUndefined()
    }
  })

  it('refuses invalid image names, invalid tags and other layouts', () => {
    for (const p of [`Upper/_manifests/sha256/${hex}`, 'a..b/_tags/latest', 'x/_tags/-bad', `_blobs/sha256/${hex.toUpperCase()}`, `x/_manifests/sha512/${hex}`, '.remote/Upper/tags.json', 'x/other']) {
      expect(ociPathProblem(p), p).toBeTypeOf('string')
    }
  })
})
