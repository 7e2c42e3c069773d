import { describe, expect, it } from 'vitest'
import { cargoPathProblem, crateNameProblem, indexPath, normalizeCrateName, parseIndexPath, validateCrateName, validateVersion, versionKey, versionProblem } from '../../../formats/cargo/index.ts'

describe('cargo crate names', () => {
  it('accepts names of ASCII letters, digits, - and _ that start with a letter', () => {
    for (const n of ['a', 'serde', 'serde_json', 'tokio-util', 'X11', 'a'.repeat(64)]) expect(validateCrateName(n)).toBe(n)
  })

  it('refuses empty, too long, non-ASCII, leading digit or punctuation, and reserved names', () => {
    for (const n of ['', 'a'.repeat(65), '1abc', '_abc', '-abc', 'foo.bar', 'foo bar', 'ünïcode', 'con', 'NUL', 'lpt1', 42, null]) {
      expect(() => validateCrateName(n)).toThrow(/crate name|reserved/)
    }
  })

  it('normalises case and - versus _ so that colliding spellings share one key', () => {
    expect(normalizeCrateName('Foo_Bar')).toBe('foo-bar')
    expect(normalizeCrateName('foo-bar')).toBe(normalizeCrateName('FOO_bar'))
  })
})

describe('cargo index paths (cargo book, Index files)', () => {
  it('puts 1-, 2- and 3-letter names in their own directories and longer names under two 2-letter levels', () => {
    expect(indexPath('a')).toBe('1/a')
    expect(indexPath('ab')).toBe('2/ab')
    expect(indexPath('abc')).toBe('3/a/abc')
    expect(indexPath('cargo')).toBe('ca/rg/cargo')
    expect(indexPath('Serde_JSON')).toBe('se/rd/serde_json')
  })

  it('parses back only the paths cargo would build', () => {
    for (const n of ['a', 'ab', 'abc', 'abcd', 'serde_json']) expect(parseIndexPath(indexPath(n))).toBe(n)
    for (const p of ['se/rd/serde_json/', 'xx/rd/serde', '3/b/abc', 'ab', '1/A', 'se/rd/Serde', '../etc/passwd', 'ca/rg/car.go']) {
      expect(parseIndexPath(p)).toBeUndefined()
    }
  })
})

describe('cargo versions', () => {
  it('accepts strict semver with pre-release and build metadata', () => {
    for (const v of ['0.1.0', '1.2.3-alpha.1', '1.0.0+build.5', '10.20.30-rc.1+meta']) expect(validateVersion(v)).toBe(v)
  })

  it('refuses partial, prefixed or zero-padded versions', () => {
    for (const v of ['1.0', 'v1.0.0', '01.0.0', '1.0.0-', '1.0.0 ', '', 7]) expect(() => validateVersion(v)).toThrow(/invalid version/)
  })

  it('compares versions without their build metadata', () => {
    expect(versionKey('1.0.0+a')).toBe(versionKey('1.0.0+b'))
    expect(versionKey('1.0.0-rc.1')).toBe('1.0.0-rc.1')
  })
})

// crates.io's rules (https://doc.rust-lang.org/cargo/reference/manifest.html#the-name-field,
// crates.io's "Crate names"): what a publish, and a replicated .crate path, may carry.
describe('cargo names: more vectors', () => {
  it('reports why a name is refused without throwing', () => {
    expect(crateNameProblem('serde')).toBeUndefined()
    expect(crateNameProblem('aux')).toMatch(/reserved/)
    expect(crateNameProblem('COM1')).toMatch(/reserved/)
    expect(crateNameProblem('café')).toMatch(/ASCII/)
    expect(crateNameProblem('../x')).toMatch(/ASCII/)
    expect(crateNameProblem('a'.repeat(65))).toMatch(/too long/)
    expect(versionProblem('1.0.0')).toBeUndefined()
    expect(versionProblem('1.0')).toMatch(/semver/)
  })
})

describe('cargo paths from peers', () => {
  it('accepts published and proxied .crate paths and remote index copies', () => {
    for (const p of ['crates/serde-json/serde-json-1.0.0.crate', 'crates/x/x-0.1.0-rc.1+b.crate', '.remote/index/config.json', '.remote/index/se/rd/serde', '.remote/index/1/a']) {
      expect(cargoPathProblem(p), p).toBeUndefined()
    }
  })

  it('refuses reserved, non-normalised or malformed names, bad versions and other layouts', () => {
    for (const p of ['crates/nul/nul-1.0.0.crate', 'crates/Serde/Serde-1.0.0.crate', 'crates/serde_json/serde_json-1.0.0.crate', 'crates/x/y-1.0.0.crate', 'crates/x/x-1.0.crate', 'crates/x/x-1.0.0.tgz', '.remote/index/xx/yy/serde', 'other']) {
      expect(cargoPathProblem(p), p).toBeTypeOf('string')
    }
  })
})
