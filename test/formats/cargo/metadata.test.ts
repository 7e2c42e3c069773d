import { describe, expect, it } from 'vitest'
import { parsePublishMetadata } from '../../../formats/cargo/index.ts'
import { publishMetadata } from '../../e2e/cargo/crate-builder.ts'

const parse = (m: unknown) => parsePublishMetadata(Buffer.from(JSON.stringify(m)))

describe('cargo publish metadata → index line', () => {
  it('maps version_req to req and keeps kind, target, optional and default_features', () => {
    const { entry } = parse(
      publishMetadata('app', '1.0.0', {
        deps: [
          { name: 'lib', version_req: '^0.1', features: ['x'], optional: true, default_features: false, target: 'cfg(unix)', kind: 'normal', registry: null },
          { name: 'helper', version_req: '=1.2.3', features: [], optional: false, default_features: true, target: null, kind: 'dev' },
        ],
      }),
    )
    expect(entry.deps).toEqual([
      { name: 'lib', req: '^0.1', features: ['x'], optional: true, default_features: false, target: 'cfg(unix)', kind: 'normal' },
      { name: 'helper', req: '=1.2.3', features: [], optional: false, default_features: true, target: null, kind: 'dev' },
    ])
    expect(entry.yanked).toBe(false)
    expect(entry.links).toBeNull()
  })

  it('names a renamed dependency by its local name and keeps the real one in package', () => {
    const { entry } = parse(
      publishMetadata('app', '1.0.0', {
        deps: [{ name: 'real_lib', version_req: '^1', features: [], optional: false, default_features: true, target: null, kind: 'normal', explicit_name_in_toml: 'alias' }],
      }),
    )
    expect(entry.deps[0]).toMatchObject({ name: 'alias', package: 'real_lib' })
  })

  it('keeps the registry of a dependency from another registry', () => {
    const { entry } = parse(
      publishMetadata('app', '1.0.0', {
        deps: [{ name: 'x', version_req: '^1', features: [], optional: false, default_features: true, target: null, kind: 'build', registry: 'https://github.com/rust-lang/crates.io-index' }],
      }),
    )
    expect(entry.deps[0]).toMatchObject({ kind: 'build', registry: 'https://github.com/rust-lang/crates.io-index' })
  })

  it('moves features using dep: or ?/ syntax to features2 with v 2', () => {
    const { entry } = parse(publishMetadata('app', '1.0.0', { features: { default: ['std'], std: [], serde: ['dep:serde', 'other?/serde'] } }))
    expect(entry.features).toEqual({ default: ['std'], std: [] })
    expect(entry.features2).toEqual({ serde: ['dep:serde', 'other?/serde'] })
    expect(entry.v).toBe(2)
  })

  it('carries rust_version and links', () => {
    const { entry } = parse(publishMetadata('sys', '0.1.0', { links: 'z', rust_version: '1.70' }))
    expect(entry).toMatchObject({ links: 'z', rust_version: '1.70' })
  })

  it('refuses malformed JSON, bad names, bad versions and bad dependencies', () => {
    expect(() => parsePublishMetadata(Buffer.from('{"name":'))).toThrow(/not valid JSON/)
    expect(() => parse([1])).toThrow(/JSON object/)
    expect(() => parse(publishMetadata('9lives', '1.0.0'))).toThrow(/invalid crate name/)
    expect(() => parse(publishMetadata('ok', '1.0'))).toThrow(/invalid version/)
    const dep = { name: 'x', version_req: '^1', features: [], optional: false, default_features: true, target: null, kind: 'normal' }
    expect(() => parse(publishMetadata('ok', '1.0.0', { deps: [{ ...dep, kind: 'peer' }] }))).toThrow(/unknown kind/)
    expect(() => parse(publishMetadata('ok', '1.0.0', { deps: [{ ...dep, version_req: '' }] }))).toThrow(/version requirement/)
    expect(() => parse(publishMetadata('ok', '1.0.0', { deps: [{ ...dep, name: 'bad name' }] }))).toThrow(/dependency name/)
    expect(() => parse(publishMetadata('ok', '1.0.0', { deps: 'none' }))).toThrow(/deps/)
    expect(() => parse(publishMetadata('ok', '1.0.0', { features: { 'bad feature': [] } }))).toThrow(/feature name/)
  })
})
