import { describe, expect, it } from 'vitest'
import { checkModuleVersion, compareVersions, isPseudoVersion, latestVersion, parseVersion } from '../../../formats/go/index.ts'

describe('go module versions', () => {
  it('parses only full canonical semantic versions', () => {
    expect(parseVersion('v1.2.3-rc.1+incompatible')).toEqual({ major: '1', minor: '2', patch: '3', prerelease: ['rc', '1'], build: 'incompatible' })
    for (const v of ['1.2.3', 'v1', 'v1.2', 'v01.2.3', 'v1.2.3-01', 'v1.2.3-', 'v1.2.3+', 'v1.2.3-a..b', 'master']) {
      expect(parseVersion(v), v).toBeUndefined()
    }
  })

  it('orders versions by semver precedence (pre-releases before releases, numeric identifiers by value)', () => {
    const sorted = ['v1.10.0', 'v1.2.0', 'v1.2.0-rc.10', 'v1.2.0-rc.2', 'v1.2.0-alpha', 'v0.9.9', 'v1.2.0-rc.2.1']
      .sort(compareVersions)
    expect(sorted).toEqual(['v0.9.9', 'v1.2.0-alpha', 'v1.2.0-rc.2', 'v1.2.0-rc.2.1', 'v1.2.0-rc.10', 'v1.2.0', 'v1.10.0'])
  })

  it('recognises pseudo-versions in their three forms', () => {
    expect(isPseudoVersion('v0.0.0-20191109021931-daa7c04131f5')).toBe(true)
    expect(isPseudoVersion('v1.2.4-0.20191109021931-daa7c04131f5')).toBe(true)
    expect(isPseudoVersion('v1.2.3-pre.0.20191109021931-daa7c04131f5')).toBe(true)
    expect(isPseudoVersion('v1.2.3-rc.1')).toBe(false)
  })

  it('ties the major version to the module path suffix and +incompatible to suffix-less v2+', () => {
    expect(checkModuleVersion('example.com/x', 'v1.0.0')).toBeUndefined()
    expect(checkModuleVersion('example.com/x', 'v0.1.0-pre')).toBeUndefined()
    expect(checkModuleVersion('example.com/x/v2', 'v2.3.0')).toBeUndefined()
    expect(checkModuleVersion('example.com/x', 'v3.0.0+incompatible')).toBeUndefined()
    expect(checkModuleVersion('gopkg.in/yaml.v2', 'v2.4.0')).toBeUndefined()
    expect(checkModuleVersion('example.com/x', 'v2.0.0')).toMatch(/should be v0 or v1/)
    expect(checkModuleVersion('example.com/x/v2', 'v1.0.0')).toMatch(/should be v2/)
    expect(checkModuleVersion('example.com/x/v2', 'v2.0.0+incompatible')).toMatch(/incompatible/)
    expect(checkModuleVersion('example.com/x', 'v1.0.0+incompatible')).toMatch(/incompatible/)
    expect(checkModuleVersion('example.com/x', 'v1.0.0+build.5')).toMatch(/build metadata/)
    expect(checkModuleVersion('example.com/x', 'v1.0')).toMatch(/canonical/)
  })

  it('picks @latest: highest release, else pre-release, else pseudo-version', () => {
    expect(latestVersion(['v1.0.0', 'v1.1.0-rc.1', 'v0.9.0'])).toBe('v1.0.0')
    expect(latestVersion(['v1.1.0-rc.1', 'v1.1.0-beta'])).toBe('v1.1.0-rc.1')
    expect(latestVersion(['v0.0.0-20200101000000-aaaaaaaaaaaa', 'v0.0.0-20240101000000-bbbbbbbbbbbb'])).toBe('v0.0.0-20240101000000-bbbbbbbbbbbb')
    expect(latestVersion(['v1.0.0', 'v2.0.0+incompatible'])).toBe('v1.0.0')
    expect(latestVersion([])).toBeUndefined()
  })
})
