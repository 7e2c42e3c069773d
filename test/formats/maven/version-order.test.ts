import { describe, expect, it } from 'vitest'
import { compareVersions } from '../../../formats/maven/index.ts'

describe("Maven's version order", () => {
  it('sorts qualifiers alpha < beta < milestone < rc < snapshot < release < sp', () => {
    const ordered = ['1-alpha', '1-beta', '1-milestone', '1-rc', '1-SNAPSHOT', '1', '1-sp']
    const shuffled = [...ordered].reverse()
    expect(shuffled.sort(compareVersions)).toEqual(ordered)
  })

  it('compares numbers numerically, not as text', () => {
    expect(compareVersions('1.10', '1.9')).toBeGreaterThan(0)
    expect(compareVersions('2.0.100', '2.0.99')).toBeGreaterThan(0)
  })

  it('treats trailing zeros and release aliases as equal', () => {
    expect(compareVersions('1.0.0', '1')).toBe(0)
    expect(compareVersions('1.0-final', '1')).toBe(0)
    expect(compareVersions('1-ga', '1.0')).toBe(0)
  })

  it('expands a, b and m before a digit and treats cr as rc', () => {
    expect(compareVersions('1-a1', '1-alpha-1')).toBe(0)
    expect(compareVersions('1-b2', '1-beta-2')).toBe(0)
    expect(compareVersions('1.0-cr1', '1.0-rc1')).toBe(0)
    expect(compareVersions('1.0-RC1', '1.0')).toBeLessThan(0)
  })

  it('puts a SNAPSHOT before its release and after the previous release', () => {
    expect(compareVersions('1.1-SNAPSHOT', '1.1')).toBeLessThan(0)
    expect(compareVersions('1.1-SNAPSHOT', '1.0')).toBeGreaterThan(0)
  })

  it('sorts unknown qualifiers after known ones, alphabetically', () => {
    expect(compareVersions('1-foo', '1-sp')).toBeGreaterThan(0)
    expect(compareVersions('1-bar', '1-foo')).toBeLessThan(0)
  })
})
