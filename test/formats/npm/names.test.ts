import { describe, expect, it } from 'vitest'
import { packageNameProblem, tarballPath } from '../../../formats/npm/index.ts'

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
      ['@scope/.dot', /URL-friendly/],
    ]
    for (const [name, why] of cases) expect(packageNameProblem(name), name).toMatch(why)
  })

  it('puts scoped tarballs under the scope with the unscoped file name, as the npm registry does', () => {
    expect(tarballPath('@acme/util', '1.2.3')).toBe('@acme/util/-/util-1.2.3.tgz')
    expect(tarballPath('left-pad', '1.0.0-beta.1')).toBe('left-pad/-/left-pad-1.0.0-beta.1.tgz')
  })
})
