import { describe, expect, it } from 'vitest'
import { declaredModulePath } from '../../../formats/go/index.ts'

describe('go.mod module directive', () => {
  it('reads the module path in its plain, quoted, commented and block forms', () => {
    expect(declaredModulePath('// header\nmodule example.com/hello // trailing\n\ngo 1.19\n')).toBe('example.com/hello')
    expect(declaredModulePath('module "example.com/quoted"\n')).toBe('example.com/quoted')
    expect(declaredModulePath('module `example.com/raw`\r\n')).toBe('example.com/raw')
    expect(declaredModulePath('module (\n  example.com/block\n)\n')).toBe('example.com/block')
  })

  it('reports no module path when the directive is missing or malformed', () => {
    expect(declaredModulePath('go 1.19\n')).toBeUndefined()
    expect(declaredModulePath('module\n')).toBeUndefined()
    expect(declaredModulePath('module a b\n')).toBeUndefined()
    expect(declaredModulePath('modules example.com/x\n')).toBeUndefined()
  })
})
