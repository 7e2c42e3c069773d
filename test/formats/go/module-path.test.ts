import { describe, expect, it } from 'vitest'
import {
  checkFilePath,
  checkModulePath,
  escapeCase,
  parseProxyPath,
  splitPathVersion,
  unescapeCase,
} from '../../../formats/go/index.ts'
import type { AkError } from '../../../store/index.ts'

describe('go module paths', () => {
  it('accepts ordinary module paths, with and without a major version suffix', () => {
    for (const p of ['example.com/hello', 'github.com/Azure/azure-sdk', 'example.com/a/b_c/d~e/v2', 'gopkg.in/yaml.v3', 'my-host.io']) {
      expect(checkModulePath(p), p).toBeUndefined()
    }
  })

  it('refuses paths that break the module path rules', () => {
    const bad = [
      '', 'hello', 'example.com/../x', 'example.com//x', 'example.com/x/', '/example.com', 'Example.com/x', '-example.com/x',
      'example.com/.hidden', 'example.com/x.', 'example.com/a b', 'example.com/a+b', 'example.com/CON', 'example.com/aux.go',
      'example.com/FOO~1', 'example.com/x/v1', 'example.com/x/v0', 'example.com/x/v01', 'example.com/é', 'exa_mple.com/x',
    ]
    for (const p of bad) expect(checkModulePath(p), p).toBeTypeOf('string')
  })

  it('splits the major version suffix the way the go command does', () => {
    expect(splitPathVersion('example.com/x/v2')).toEqual({ prefix: 'example.com/x', pathMajor: '/v2', ok: true })
    expect(splitPathVersion('example.com/x')).toEqual({ prefix: 'example.com/x', pathMajor: '', ok: true })
    expect(splitPathVersion('example.com/x/v1').ok).toBe(false)
    expect(splitPathVersion('example.com/x/v2.1').ok).toBe(false)
    expect(splitPathVersion('gopkg.in/yaml.v2')).toEqual({ prefix: 'gopkg.in/yaml', pathMajor: '.v2', ok: true })
  })

  it('checks file paths inside module zips (dots and spaces allowed, traversal not)', () => {
    for (const p of ['go.mod', '.gitignore', 'dir/file name.txt', 'a/b/c[1].go', 'doc/ünïcode.md']) expect(checkFilePath(p), p).toBeUndefined()
    for (const p of ['', '../x', 'a/../b', 'a//b', 'a/', 'x.', 'a\\b', 'a:b', 'nul.txt', 'a/..']) expect(checkFilePath(p), p).toBeTypeOf('string')
  })

  it('case-encodes upper-case letters as ! plus the lower-case letter, both ways', () => {
    expect(escapeCase('github.com/Azure/SDK')).toBe('github.com/!azure/!s!d!k')
    expect(unescapeCase('github.com/!azure/!s!d!k')).toBe('github.com/Azure/SDK')
    expect(unescapeCase(escapeCase('v1.0.0-RC1'))).toBe('v1.0.0-RC1')
  })

  it('refuses encodings that are not canonical: raw capitals, a dangling or misplaced !', () => {
    for (const e of ['github.com/Azure', 'x!', 'x!!a', 'x!1', 'x!A', 'ä.com']) expect(unescapeCase(e), e).toBeUndefined()
  })
})

describe('GOPROXY request paths', () => {
  it('parses list, latest, info, mod and zip requests with decoded module paths and versions', () => {
    expect(parseProxyPath('example.com/!hello/@v/list')).toEqual({ kind: 'list', module: 'example.com/Hello' })
    expect(parseProxyPath('example.com/hello/@latest')).toEqual({ kind: 'latest', module: 'example.com/hello' })
    expect(parseProxyPath('example.com/hello/@v/v1.0.0-!r!c1.info')).toEqual({ kind: 'info', module: 'example.com/hello', version: 'v1.0.0-RC1' })
    expect(parseProxyPath('example.com/hello/v2/@v/v2.0.0.mod?x=1')).toEqual({ kind: 'mod', module: 'example.com/hello/v2', version: 'v2.0.0' })
    expect(parseProxyPath('example.com/hello/@v/v1.0.0%2Bincompatible.zip')).toMatchObject({ kind: 'zip', version: 'v1.0.0+incompatible' })
  })

  it('answers not found (404) for revisions that are not canonical versions, as for unknown ones', () => {
    for (const p of ['example.com/hello/@v/master.info', 'example.com/hello/@v/v1.info', 'example.com/hello/@v/other.txt', 'example.com/hello']) {
      expect(() => parseProxyPath(p), p).toThrow(expect.objectContaining({ code: 'AK_NOT_FOUND' }) as AkError)
    }
  })

  it('refuses malformed module paths and encodings as invalid (400)', () => {
    for (const p of ['example.com/Hello/@v/list', 'example.com/../x/@v/list', 'hello/@v/list', 'example.com/x/@v/v1.0.0-!1.zip']) {
      expect(() => parseProxyPath(p), p).toThrow(expect.objectContaining({ code: 'AK_INVALID_PATH' }) as AkError)
    }
  })
})
