import { describe, expect, it } from 'vitest'
import { isValidPackageName, npmPathProblem, npmPointerProblem, packageNameProblem, tarballPath } from '../../../formats/npm/index.ts'

describe('npm package names', () => {
  it('accepts the names npm accepts for new packages', () => {
    for (const name of ['a', 'left-pad', 'lodash.merge', 'under_score', '@scope/name', '@my-org/pkg.js', 'x'.repeat(214)]) {
      expect(packageNameProblem(name), name).toBeUndefined()
    }
  })

  it('refuses names npm refuses, saying why', () => {
    const cases: [string, RegExp][] = [
      ['', /greater than zero/],
      ['x'.repeat(215), /more than 214/],
      ['.hidden', /period/],
      ['_private', /underscore/],
      [' spaced', /spaces/],
      ['Capital', /capital/],
      ['node_modules', /not a valid/],
      ['favicon.ico', /not a valid/],
      ['crazy!', /special/],
      ['a/b', /URL-friendly/],
      ['@scope', /URL-friendly/],
      ['@scope/a/b', /URL-friendly/],
      ['@sc ope/a', /URL-friendly/],
      ['caf%c3%a9', /URL-friendly/], ['café', /URL-friendly/],
      ['@scope/.dot', /period/],
    ]
    for (const [name, why] of cases) expect(packageNameProblem(name), name).toMatch(why)
  })

  it('puts scoped tarballs under the scope with the unscoped file name, as the npm registry does', () => {
    expect(tarballPath('@acme/util', '1.2.3')).toBe('@acme/util/-/util-1.2.3.tgz')
    expect(tarballPath('left-pad', '1.0.0-beta.1')).toBe('left-pad/-/left-pad-1.0.0-beta.1.tgz')
  })
})

// The examples of validate-npm-package-name's README (7.0.2): which names are valid for new
// packages, which only for packages that already exist (its "warnings"), which for none.
describe('npm package names: validate-npm-package-name vectors', () => {
  it('valid for new packages', () => {
    for (const n of ['some-package', 'example.com', 'under_score', 'period.js', '123numeric', '@npm/thingy', '@jane/foo.js', '@scope/_private']) {
      expect(packageNameProblem(n, 'new'), n).toBeUndefined()
    }
  })

  it('valid only for packages that already exist (reads, proxies, replication)', () => {
    const cases: [string, RegExp][] = [
      ['http', /core module/],
      ['process', /core module/],
      ['CAPITAL-LETTERS', /capital/],
      ['JSONStream', /capital/],
      ['crazy!', /special/],
      ['@npm-zors/money!time.js', /special/],
      ['a'.repeat(215), /more than 214/],
    ]
    for (const [n, why] of cases) {
      expect(packageNameProblem(n, 'new'), n).toMatch(why)
      expect(packageNameProblem(n, 'existing'), n).toBeUndefined()
      expect(isValidPackageName(n), n).toBe(true)
    }
  })

  it('valid for none', () => {
    const cases: [string, RegExp][] = [
      ['', /greater than zero/],
      ['.start-with-period', /period/],
      ['-start-with-hyphen', /hyphen/],
      ['_start-with-underscore', /underscore/],
      ['contain:colons', /URL-friendly/],
      [' leading-space', /spaces/],
      ['trailing-space ', /spaces/],
      ['s/l/a/s/h/e/s', /URL-friendly/],
      ['node_modules', /not a valid/],
      ['favicon.ico', /not a valid/],
      ['..', /period/],
      ['.', /period/],
      ['@scope/..', /period/],
    ]
    for (const [n, why] of cases) {
      expect(packageNameProblem(n, 'existing'), n).toMatch(why)
      expect(isValidPackageName(n), n).toBe(false)
    }
  })

  it('scopes follow the user-name rules (npm-user-validate): `@..` and its kin are never names', () => {
    const cases: [string, RegExp][] = [
      ['@../x', /scope may not start with "."/],
      ['@./x', /scope may not start with "."/],
      ['@.x/y', /scope may not start with "."/],
      ['@Scope/x', /scope must be lowercase/],
      ['@..', /URL-friendly/],
      ['@/x', /URL-friendly/],
      ['@sc%2fope/x', /URL-friendly/],
    ]
    for (const [n, why] of cases) for (const use of ['new', 'existing'] as const) expect(packageNameProblem(n, use), `${n} ${use}`).toMatch(why)
  })
})

describe('npm paths and pointers from peers', () => {
  it('accepts the tarball, packument and pointer names npm writes', () => {
    for (const p of ['left-pad/-/left-pad-1.0.0.tgz', '@acme/util/-/util-1.0.0.tgz', 'JSONStream/-/JSONStream-1.3.5.tgz', '.remote/@acme/util/packument.json', '.remote/x/packument.abbreviated.json']) {
      expect(npmPathProblem(p), p).toBeUndefined()
    }
    for (const p of ['dist-tag/left-pad/latest', 'dist-tag/@acme/util/next', 'deprecated/@acme/util/1.0.0-beta.1']) expect(npmPointerProblem(p), p).toBeUndefined()
  })

  it('refuses names npm refuses and layouts npm never writes', () => {
    for (const p of ['@../x/-/x-1.0.0.tgz', '@./x/-/x-1.0.0.tgz', '.hidden/-/h-1.0.0.tgz', 'a/-/b/c.tgz', 'plain.txt', '.remote/@../x/packument.json', '.remote/x/other.json']) {
      expect(npmPathProblem(p), p).toBeTypeOf('string')
    }
    for (const p of ['dist-tag/@../x/latest', 'dist-tag/x/1.0.0', 'deprecated/x/not-semver', 'other/x/y']) expect(npmPointerProblem(p), p).toBeTypeOf('string')
  })
})
