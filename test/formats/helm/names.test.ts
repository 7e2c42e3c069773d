import { describe, expect, it } from 'vitest'
import { checkChartName, helmPathProblem, isChartVersion } from '../../../formats/helm/index.ts'

// Chart names by Helm's naming convention for charts uploaded here (lower case letters and
// digits, words separated by dashes: https://helm.sh/docs/chart_best_practices/conventions/),
// `helm create`'s looser rule for charts that already exist elsewhere; versions SemVer 2.
describe('helm chart names', () => {
  it('uploads: lower case letters, digits and single dashes between words', () => {
    for (const n of ['nginx', 'cert-manager', 'kube-prometheus-stack', 'x', '3scale', 'a1-b2']) expect(checkChartName(n), n).toBeUndefined()
    for (const n of ['Upper', 'camelCase', 'under_score', 'dot.ted', '-x', 'x-', 'a--b', 'a b', 'a/b', '..', '', 'ä', 'x'.repeat(251)]) {
      expect(checkChartName(n), n).toBeTypeOf('string')
    }
  })

  it('existing charts (a proxied upstream index, a delete): what `helm create` accepts', () => {
    for (const n of ['Upper', 'under_score', 'dot.ted', 'x-']) expect(checkChartName(n, 'existing'), n).toBeUndefined()
    for (const n of ['-x', '.x', '..', 'a/b', 'a b', '', 'ä']) expect(checkChartName(n, 'existing'), n).toBeTypeOf('string')
  })

  it('versions are SemVer 2 without a v', () => {
    for (const v of ['1.0.0', '0.1.0-rc.1', '1.0.0+build.1']) expect(isChartVersion(v), v).toBe(true)
    for (const v of ['v1.0.0', '1.0', '1.0.0.0', '01.0.0', '..']) expect(isChartVersion(v), v).toBe(false)
  })
})

describe('helm paths from peers', () => {
  it('accepts chart files and a remote index', () => {
    for (const p of ['charts/nginx-1.0.0.tgz', 'charts/nginx-1.0.0.tgz.prov', 'charts/Upper_Name-1.0.0.tgz', '.remote/index.yaml']) expect(helmPathProblem(p), p).toBeUndefined()
  })

  it('refuses other files and layouts', () => {
    for (const p of ['charts/evil name-1.0.0.tgz', 'charts/x.yaml', 'charts/-x-1.0.0.tgz', 'charts/a/b-1.0.0.tgz', 'index.yaml', 'other/x.tgz']) {
      expect(helmPathProblem(p), p).toBeTypeOf('string')
    }
  })
})
