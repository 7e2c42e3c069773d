import { describe, expect, it } from 'vitest'
import { parseRawPath, validateArtifactPath } from '../../../store/index.ts'

// Generic paths are names too: the raw URL is decoded once, segment by segment, and each
// decoded segment must not escape (`..`, `.`), hide a separator (`%2f`, `\`), or carry control
// characters (NUL, CR/LF, DEL, C1). The same rules hold for paths replicated from peers.
describe('generic paths', () => {
  it('decodes and accepts ordinary paths', () => {
    expect(parseRawPath('/a/b%20c/d.txt')).toEqual({ path: 'a/b c/d.txt', directory: false })
    expect(parseRawPath('/a/b/')).toEqual({ path: 'a/b', directory: true })
    expect(parseRawPath('/ünï/%E2%9C%93')).toEqual({ path: 'ünï/✓', directory: false })
  })

  it('refuses traversal, hidden separators and control characters however they are spelled', () => {
    for (const raw of [
      '/a/../b', '/a/%2e%2e/b', '/a/%2E%2E/b', '/a/.%2e/b', '/a/%2e./b', '/%2e%2e', '/a/./b', '/a/%2e/b',
      '/a%2fb', '/a%2Fb', '/a\\b', '/a%5cb', '/a%5Cb', '/a//b', '//a',
      '/a%00b', '/a%01b', '/a%0ab', '/a%0db', '/a%7fb', '/a%c2%85b', '/a%zzb', '/a%',
    ]) {
      expect(() => parseRawPath(raw), raw).toThrow(expect.objectContaining({ code: 'AK_INVALID_PATH' }))
    }
  })

  it('holds decoded paths (formats, replication) to the same rules', () => {
    expect(validateArtifactPath('a/b.txt')).toBe('a/b.txt')
    for (const p of ['a/../b', '..', 'a/./b', 'a\\b', 'a\u0000b', 'a\nb', '/a', 'a/', 'a//b', '']) {
      expect(() => validateArtifactPath(p), JSON.stringify(p)).toThrow(expect.objectContaining({ code: 'AK_INVALID_PATH' }))
    }
  })
})
