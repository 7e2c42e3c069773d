import { describe, expect, it } from 'vitest'
import { isValidProjectName, normalizeProjectName, normalizeVersion, parseDistributionFilename, pypiPathProblem } from '../../../formats/pypi/index.ts'

describe('PEP 503 name normalisation', () => {
  it('folds case and runs of -_. into one dash', () => {
    for (const n of ['Friendly-Bar', 'FRIENDLY-BAR', 'friendly.bar', 'friendly_bar', 'friendly--bar', 'FrIeNdLy-._.-bAr']) {
      expect(normalizeProjectName(n)).toBe('friendly-bar')
    }
  })

  it('accepts names that start and end alphanumeric and refuses the rest', () => {
    for (const ok of ['a', 'A1', 'zope.interface', 'ak_demo-2']) expect(isValidProjectName(ok)).toBe(true)
    for (const bad of ['', '-a', 'a-', '.a', 'a b', 'ä', 'a/b', 'x'.repeat(201)]) expect(isValidProjectName(bad)).toBe(false)
  })
})

describe('PEP 440 version normalisation', () => {
  it('produces the normal form', () => {
    const cases: Record<string, string> = {
      '1.0': '1.0',
      'v1.0': '1.0',
      '01.02': '1.2',
      '1.0-BETA.2': '1.0b2',
      '1.0alpha': '1.0a0',
      '1.0c1': '1.0rc1',
      '1.0.post': '1.0.post0',
      '1.0-1': '1.0.post1',
      '1.0.dev': '1.0.dev0',
      '0!1.0': '1.0',
      '1!2.0rc1.post2.dev3': '1!2.0rc1.post2.dev3',
      '1.0+Ubuntu-1': '1.0+ubuntu.1',
    }
    for (const [given, normal] of Object.entries(cases)) expect(normalizeVersion(given), given).toBe(normal)
  })

  it('refuses what is not PEP 440', () => {
    for (const bad of ['', 'abc', '1.0-', '1..0', '1.0+', '1.0+a..b', '1'.repeat(200)]) expect(normalizeVersion(bad), bad).toBeUndefined()
  })
})

describe('distribution filenames', () => {
  it('parses wheel names with and without a build tag', () => {
    expect(parseDistributionFilename('ak_demo-1.0.0-py3-none-any.whl')).toMatchObject({
      kind: 'wheel', project: 'ak_demo', version: '1.0.0', build: undefined, pythonTag: 'py3', abiTag: 'none', platformTag: 'any',
    })
    expect(parseDistributionFilename('numpy-1.26.0-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl')).toMatchObject({
      build: '1', pythonTag: 'cp311', platformTag: 'manylinux_2_17_x86_64.manylinux2014_x86_64',
    })
  })

  it('refuses malformed wheel names', () => {
    for (const bad of ['a-1.0-py3-none.whl', 'a-1.0-x-py3-none-any.whl', 'a-b-1.0-py3-none-any.whl', '-1.0-py3-none-any.whl', 'a-1.0-py3-none-an*y.whl']) {
      expect(() => parseDistributionFilename(bad), bad).toThrow(/Invalid wheel filename/)
    }
  })

  it('splits sdist names at the dash the project name decides', () => {
    expect(parseDistributionFilename('ak_demo-1.0.tar.gz')).toMatchObject({ kind: 'sdist', project: 'ak_demo', version: '1.0' })
    expect(parseDistributionFilename('foo-bar-2.0.tar.gz')).toMatchObject({ project: 'foo-bar', version: '2.0' })
    expect(parseDistributionFilename('foo-1.0-1.tar.gz', 'foo')).toMatchObject({ project: 'foo', version: '1.0-1' })
    expect(() => parseDistributionFilename('foo-1.0.tar.gz', 'bar')).toThrow(/with the project name 'bar'/)
  })

  it('refuses other extensions and path separators', () => {
    for (const bad of ['a-1.0.zip', 'a-1.0.egg', 'a-1.0.tar.bz2', '../a-1.0.tar.gz', 'a\\b-1.0.tar.gz']) {
      expect(() => parseDistributionFilename(bad), bad).toThrow()
    }
  })
})

// Core metadata "Name" (https://packaging.python.org/en/latest/specifications/core-metadata/#name)
// and PEP 503 normalisation, as every lookup, path and replicated path uses them.
describe('project names by the core metadata grammar', () => {
  it('follows ^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$ case-insensitively', () => {
    for (const ok of ['requests', 'Django', 'zope.interface', 'typing_extensions', 'ruamel.yaml.clib', '4Suite-XML', 'x', 'Z9']) {
      expect(isValidProjectName(ok), ok).toBe(true)
    }
    for (const bad of ['..', '.', '-', '_x', 'x_', 'x.', '.x', 'a b', 'a\tb', 'a/b', 'a\\b', 'a\u0000b', 'naïve', 'ｆｕｌｌ', 'a+b', 'a@b']) {
      expect(isValidProjectName(bad), JSON.stringify(bad)).toBe(false)
    }
  })

  it('normalises every spelling of one project to one PEP 503 name', () => {
    const spellings = ['Ruamel.Yaml.CLIB', 'ruamel-yaml-clib', 'ruamel__yaml..clib', 'RUAMEL_YAML_CLIB']
    expect(new Set(spellings.map(normalizeProjectName))).toEqual(new Set(['ruamel-yaml-clib']))
  })
})

describe('PyPI paths from peers', () => {
  it('accepts distribution paths under normalised names and remote pages', () => {
    for (const p of ['packages/ak-demo/ak_demo-1.0-py3-none-any.whl', 'packages/ak-demo/ak_demo-1.0-py3-none-any.whl.metadata', '.remote/simple/requests/page']) {
      expect(pypiPathProblem(p), p).toBeUndefined()
    }
  })

  it('refuses names that are not normalised or not names at all, and other layouts', () => {
    for (const p of ['packages/Ak_Demo/x.whl', 'packages/../x.whl', 'packages/-x/x.whl', 'packages/x', 'packages/x/y/z.whl', '.remote/simple/Requests/page', 'other/x']) {
      expect(pypiPathProblem(p), p).toBeTypeOf('string')
    }
  })
})
