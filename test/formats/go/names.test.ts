import { describe, expect, it } from 'vitest'
import { checkModulePath, escapeCase, goPathProblem, isPseudoVersion, parseProxyPath, parseVersion, unescapeCase } from '../../../formats/go/index.ts'

// Module paths by golang.org/x/mod/module.CheckPath (vectors of its checkPathTests), the case
// encoding of proxy URLs (module.EscapePath) and canonical versions (golang.org/x/mod/semver):
// what an upload, a read and a replicated path may name.
describe('go module paths: x/mod CheckPath vectors', () => {
  it('accepts', () => {
    for (const p of ['x.y/z', 'x.y', 'x.y/z/v2', 'x.y/z-', 'x.y/z.t', 'x.y/z_', 'x.y/z~', 'x.y-/z', 'github.com/Azure/go-autorest']) {
      expect(checkModulePath(p), p).toBeUndefined()
    }
  })

  it('refuses', () => {
    const bad = [
      '', '/x.y/z', 'x./z', '.x/z', '-x/z', 'x.y/z/../../w', 'x.y/../z', 'x.y/./z', 'x.y//z', 'x.y/z/', 'x.y/z/v0', 'x.y/z/v1',
      'x.y/z/v2.0', 'X.y/z', '!x.y/z', '_x.y/z', 'x.y!/z', 'x.y:/z', 'x.y@/z', 'x.y\\/z', 'x.y/z!', 'x.y/z:', 'x.y/z@', 'x.y/\u00ffz',
      'x.y/z\u0000', 'z', 'localhost/z',
    ]
    for (const p of bad) expect(checkModulePath(p), JSON.stringify(p)).toBeTypeOf('string')
  })

  it('case-encodes capitals in proxy URLs and decodes only the canonical encoding', () => {
    expect(escapeCase('github.com/Azure/go-autorest')).toBe('github.com/!azure/go-autorest')
    expect(unescapeCase('github.com/!azure/go-autorest')).toBe('github.com/Azure/go-autorest')
    for (const e of ['github.com/Azure/x', 'x.y/!', 'x.y/!!a', 'x.y/!1', 'x.y/\u00e9']) expect(unescapeCase(e), e).toBeUndefined()
    expect(() => parseProxyPath('x.y/%2e%2e/z/@v/v1.0.0.zip', { upload: true })).toThrow(expect.objectContaining({ code: 'AK_INVALID_PATH' }))
  })
})

describe('go versions: canonical semver and pseudo-versions', () => {
  it('accepts only full canonical versions', () => {
    for (const v of ['v0.0.0', 'v1.2.3', 'v1.2.3-pre.1', 'v2.0.0+incompatible', 'v0.0.0-20191109021931-daa7c04131f5']) expect(parseVersion(v), v).toBeDefined()
    for (const v of ['1.2.3', 'v1', 'v1.2', 'v01.2.3', 'v1.2.3-', 'v1.2.3-01', 'v1.2.3 ', 'latest', 'master', '..']) expect(parseVersion(v), v).toBeUndefined()
  })

  it('recognises pseudo-versions', () => {
    for (const v of ['v0.0.0-20191109021931-daa7c04131f5', 'v1.2.4-0.20191109021931-daa7c04131f5', 'v1.2.3-pre.0.20191109021931-daa7c04131f5']) {
      expect(isPseudoVersion(v), v).toBe(true)
    }
    expect(isPseudoVersion('v1.2.3')).toBe(false)
  })
})

describe('go paths from peers', () => {
  it('accepts version files of valid modules and a remote\'s mutable answers', () => {
    for (const p of ['example.com/x/@v/v1.0.0.zip', 'example.com/x/@v/v1.0.0.mod', 'github.com/Azure/x/@v/v1.0.0.info', '.remote/example.com/x/@v/list', '.remote/example.com/x/@latest', '.remote/example.com/x/@v/master.info']) {
      expect(goPathProblem(p), p).toBeUndefined()
    }
  })

  it('refuses invalid module paths, non-canonical versions and other layouts', () => {
    for (const p of ['Example.com/x/@v/v1.0.0.zip', 'nodot/x/@v/v1.0.0.zip', 'example.com/x/@v/v1.0.zip', 'example.com/x/@v/list', 'example.com/x/@latest', '.remote/example.com/x/@v/v1.0.0.zip', '.remote/example.com/x/@v/.hidden.info', 'example.com/x/other']) {
      expect(goPathProblem(p), p).toBeTypeOf('string')
    }
  })
})
