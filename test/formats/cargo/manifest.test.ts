import { describe, expect, it } from 'vitest'
import { readPackageId } from '../../../formats/cargo/index.ts'

describe('reading name and version from a packaged Cargo.toml', () => {
  it('reads them from the [package] table as cargo normalises it', () => {
    const toml = '# comment\n[package]\nedition = "2021"\nname = "my_crate"\nversion = "0.3.1"\n\n[dependencies.serde]\nversion = "1"\n'
    expect(readPackageId(toml)).toEqual({ name: 'my_crate', version: '0.3.1' })
  })

  it('ignores name and version keys of other tables', () => {
    const toml = '[lib]\nname = "other"\n[package]\nname = "real"\n[dependencies]\nversion = "9"\n[package.metadata]\nversion = "8"\n'
    expect(readPackageId(toml)).toEqual({ name: 'real', version: undefined })
  })

  it('understands literal strings, escapes, trailing comments and the old [project] table', () => {
    expect(readPackageId("[project]\nname = 'lit'  # c\nversion = \"1.0.0\" # c\n")).toEqual({ name: 'lit', version: '1.0.0' })
    expect(readPackageId('[package]\nname = "a\\u0062c"\n')).toEqual({ name: 'abc', version: undefined })
  })

  it('finds nothing in a manifest without a package', () => {
    expect(readPackageId('[workspace]\nmembers = []\n')).toEqual({ name: undefined, version: undefined })
  })
})
