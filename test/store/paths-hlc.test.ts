import { describe, expect, it } from 'vitest'
import {
  compareHlc,
  HybridClock,
  InvalidPathError,
  MAX_PATH_LENGTH,
  parseRawPath,
  validateArtifactPath,
  validateRepositoryKey,
  type Hlc,
} from '../../store/index.ts'

describe('parseRawPath', () => {
  const rejected: [string, string][] = [
    ['a parent segment', 'a/../b'],
    ['a leading parent segment', '../etc/passwd'],
    ['an encoded parent segment', 'a/%2e%2e/b'],
    ['an encoded parent segment in mixed case', '%2E%2e/etc/passwd'],
    ['a dot segment', 'a/./b'],
    ['an encoded dot segment', 'a/%2e/b'],
    ['a backslash', 'a\\..\\b'],
    ['an encoded backslash', 'a/..%5c..%5cb'],
    ['an encoded backslash in upper case', 'a%5Cb'],
    ['an encoded NUL', 'a%00.txt'],
    ['an encoded newline', 'a%0a.txt'],
    ['an encoded escape character', 'a%1b[31m.txt'],
    ['an encoded DEL', 'a%7f.txt'],
    ['a C1 control character', 'a%C2%85.txt'],
    ['a raw tab', 'a\tb'],
    ['a doubled leading slash (absolute)', '//etc/passwd'],
    ['a doubled slash inside', 'a//b'],
    ['an encoded slash', 'a%2fb'],
    ['an encoded slash in upper case', '..%2F..%2Fetc'],
    ['a malformed percent-encoding', 'a%zz'],
    ['a truncated UTF-8 sequence', 'a%E2%82'],
    ['a path longer than the maximum', `${'abcdefgh/'.repeat(Math.ceil(MAX_PATH_LENGTH / 9))}x`],
    ['a segment longer than 255 bytes', `a/${'b'.repeat(256)}`],
    ['an empty path', ''],
    ['only a slash', '/'],
  ]
  it.each(rejected)('rejects %s (%j) with InvalidPathError', (_label, raw) => {
    expect(() => parseRawPath(raw)).toThrow(InvalidPathError)
  })

  it.each([
    ['plain', 'libs/app-1.0.tar.gz', 'libs/app-1.0.tar.gz'],
    ['with a leading slash', '/libs/app.jar', 'libs/app.jar'],
    ['accented letters', 'docs/%C3%A9t%C3%A9/r%C3%A9sum%C3%A9.pdf', 'docs/été/résumé.pdf'],
    ['raw (unencoded) unicode', 'docs/日本語/файл.txt', 'docs/日本語/файл.txt'],
    ['an emoji', 'fun/%F0%9F%98%80.txt', 'fun/😀.txt'],
    ['spaces and plus', 'a%20b/c+d.txt', 'a b/c+d.txt'],
    ['dots inside names', 'a/..b/c..', 'a/..b/c..'],
    ['a query string, which is not part of the path', 'a/b.txt?x=1', 'a/b.txt'],
    ['a segment of exactly 255 bytes', `a/${'b'.repeat(255)}`, `a/${'b'.repeat(255)}`],
  ])('accepts %s', (_label, raw, path) => {
    expect(parseRawPath(raw)).toEqual({ path, directory: false })
  })

  it('marks a trailing slash as a directory and allows the empty root only when asked', () => {
    expect(parseRawPath('a/b/')).toEqual({ path: 'a/b', directory: true })
    expect(parseRawPath('', true)).toEqual({ path: '', directory: true })
    expect(parseRawPath('/', true)).toEqual({ path: '', directory: true })
  })

  it('counts the maximum length in bytes once decoded', () => {
    const segment = 'é'.repeat(100) // 200 bytes
    const ok = Array.from({ length: 5 }, () => segment).join('/') // 1004 bytes
    expect(parseRawPath(encodeURI(ok)).path).toBe(ok)
    expect(() => parseRawPath(encodeURI(`${ok}/${'é'.repeat(10)}`))).toThrow(InvalidPathError)
  })
})

describe('validateArtifactPath and validateRepositoryKey', () => {
  it.each(['', '/a', 'a/', 'a//b', 'a/../b', 'a\\b', 'a\u0000b', '.', 'a/.'])('rejects the artifact path %j', (p) => {
    expect(() => validateArtifactPath(p)).toThrow(InvalidPathError)
  })
  it('accepts a decoded unicode path', () => {
    expect(validateArtifactPath('a/été/😀.txt')).toBe('a/été/😀.txt')
  })
  it.each(['', 'A', '-a', '.a', 'a/b', 'a b', 'x'.repeat(65), '..'])('rejects the repository key %j', (k) => {
    expect(() => validateRepositoryKey(k)).toThrow(InvalidPathError)
  })
  it.each(['a', 'libs-release', 'my.repo_1', '0', 'x'.repeat(64)])('accepts the repository key %j', (k) => {
    expect(validateRepositoryKey(k)).toBe(k)
  })
})

describe('HybridClock', () => {
  it('ticks strictly upward while the wall clock stands still or goes backwards', () => {
    const walls = [1000, 1000, 1000, 900, 800, 1001, 1001]
    let i = 0
    const clock = new HybridClock(() => walls[i++] as number)
    const stamps: Hlc[] = walls.map(() => clock.tick())
    for (let k = 1; k < stamps.length; k++) expect(compareHlc(stamps[k - 1] as Hlc, stamps[k] as Hlc)).toBeLessThan(0)
    expect(stamps[0]).toEqual({ ms: 1000, counter: 0 })
    expect(stamps[4]).toEqual({ ms: 1000, counter: 4 })
    expect(stamps[5]).toEqual({ ms: 1001, counter: 0 })
  })

  it('moves past a timestamp observed from a node whose clock runs ahead', () => {
    const clock = new HybridClock(() => 1000)
    const remote = { ms: 5000, counter: 7 }
    const merged = clock.observe(remote)
    expect(compareHlc(merged, remote)).toBeGreaterThan(0)
    const next = clock.tick()
    expect(compareHlc(next, merged)).toBeGreaterThan(0)
    expect(next.ms).toBe(5000)
  })

  it('orders by milliseconds first, then by counter', () => {
    const list: Hlc[] = [
      { ms: 2, counter: 0 },
      { ms: 1, counter: 5 },
      { ms: 1, counter: 1 },
      { ms: 3, counter: 0 },
    ]
    expect([...list].sort(compareHlc)).toEqual([
      { ms: 1, counter: 1 },
      { ms: 1, counter: 5 },
      { ms: 2, counter: 0 },
      { ms: 3, counter: 0 },
    ])
    expect(compareHlc({ ms: 4, counter: 2 }, { ms: 4, counter: 2 })).toBe(0)
  })

  it('continues after the last stamp it was started from (a restart)', () => {
    const clock = new HybridClock(() => 10, { ms: 50, counter: 3 })
    expect(clock.tick()).toEqual({ ms: 50, counter: 4 })
  })
})
