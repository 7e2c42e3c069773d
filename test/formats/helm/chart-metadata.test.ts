import { describe, expect, it } from 'vitest'
import { checkChartName, isChartVersion, parseChartYaml, provenanceChart } from '../../../formats/helm/index.ts'
import { provenanceFor } from '../../e2e/helm/charts.ts'

describe('Chart.yaml', () => {
  it('keeps the known fields with their types and coerces a numeric appVersion to a string', () => {
    const meta = parseChartYaml(`apiVersion: v2
name: web
version: 1.2.3-rc.1+build.5
appVersion: 1.16
description: A web app
type: application
keywords: [web, http]
maintainers:
  - name: Ada
    email: ada@example.com
dependencies:
  - name: redis
    version: ">=17.0.0"
    repository: https://charts.example.com
annotations:
  category: Web
unknownField: dropped
`)
    expect(meta).toEqual({
      apiVersion: 'v2',
      name: 'web',
      version: '1.2.3-rc.1+build.5',
      appVersion: '1.16',
      description: 'A web app',
      type: 'application',
      keywords: ['web', 'http'],
      maintainers: [{ name: 'Ada', email: 'ada@example.com' }],
      dependencies: [{ name: 'redis', version: '>=17.0.0', repository: 'https://charts.example.com' }],
      annotations: { category: 'Web' },
    })
  })

  it('refuses a Chart.yaml without apiVersion, name or version, or with invalid ones', () => {
    const cases: [string, RegExp][] = [
      ['name: a\nversion: 1.0.0\n', /apiVersion is required/],
      ['apiVersion: v3\nname: a\nversion: 1.0.0\n', /not supported/],
      ['apiVersion: v2\nversion: 1.0.0\n', /name is required/],
      ['apiVersion: v2\nname: a/b\nversion: 1.0.0\n', /name "a\/b" is invalid/],
      ['apiVersion: v2\nname: a\n', /version is required/],
      ['apiVersion: v2\nname: a\nversion: 1.0\n', /version is required|SemVer/],
      ['apiVersion: v2\nname: a\nversion: "1.0"\n', /SemVer/],
      ['apiVersion: v2\nname: a\nversion: v1.0.0\n', /SemVer/],
      ['apiVersion: v2\nname: a\nversion: 1.0.0\ntype: plugin\n', /type "plugin"/],
      ['apiVersion: v2\nname: a\nversion: 1.0.0\nkeywords: {a: 1}\n', /keywords must be a list/],
      ['apiVersion: v2\nname: a\nversion: 1.0.0\nmaintainers: [{email: x}]\n', /maintainer needs a name/],
      ['- just\n- a list\n', /not a YAML mapping/],
      ['apiVersion: v2\nname: [unclosed\n', /not valid YAML/],
      ['apiVersion: v2\nname: a\nname: b\nversion: 1.0.0\n', /not valid YAML/],
    ]
    for (const [text, message] of cases) expect(() => parseChartYaml(text), text).toThrow(message)
  })

  it('refuses YAML alias expansion bombs', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`)
    expect(() => parseChartYaml(`apiVersion: v2\nname: a\nversion: 1.0.0\n${lines.join('\n')}\n`)).toThrow(/not valid YAML/)
  })

  it('accepts chart names and SemVer 2 versions as Helm does', () => {
    // Uploads follow Helm's naming convention; charts that exist elsewhere keep `helm create`'s looser spelling.
    for (const n of ['nginx', 'my-chart', 'cert-manager', 'x1']) expect(checkChartName(n), n).toBeUndefined()
    for (const n of ['cert-manager.v1', 'A_b']) {
      expect(checkChartName(n), n).toMatch(/lower case/)
      expect(checkChartName(n, 'existing'), n).toBeUndefined()
    }
    for (const n of ['', '-x', '.x', 'a/b', 'a b', 'ä']) expect(checkChartName(n, 'existing'), n).toBeTypeOf('string')
    for (const v of ['0.1.0', '1.2.3-alpha.1', '1.0.0+20240101', '10.20.30-rc.1+meta']) expect(isChartVersion(v), v).toBe(true)
    for (const v of ['1.0', 'v1.0.0', '01.0.0', '1.0.0-', '1.0.0-01', 'latest']) expect(isChartVersion(v), v).toBe(false)
  })
})

describe('provenance files', () => {
  it('name the chart and version of their clear-signed Chart.yaml', () => {
    expect(provenanceChart(provenanceFor('web', '1.2.3', Buffer.from('x'), 'ab'.repeat(32)))).toEqual({ name: 'web', version: '1.2.3' })
  })

  it('are refused when not clear-signed or without a chart name', () => {
    expect(() => provenanceChart('name: web\nversion: 1.0.0\n')).toThrow(/not a provenance file/)
    const noName = provenanceFor('web', '1.2.3', Buffer.from('x'), 'ab').replace('name: web\n', '')
    expect(() => provenanceChart(noName)).toThrow(/no chart name/)
  })
})
