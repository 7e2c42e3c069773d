import { MAX_CHART_NAME_LENGTH } from './constants.ts'

/**
 * Chart names and versions, and the paths a chart repository stores them at.
 *
 * Names: Helm's chart best practices ("Chart names must be lower case letters and numbers. Words
 * may be separated with dashes (-)"; https://helm.sh/docs/chart_best_practices/conventions/)
 * for every chart uploaded here. Charts that already exist elsewhere (an upstream's index.yaml
 * proxied by a remote repository) keep the looser spelling `helm create` accepts
 * (pkg/chartutil/create.go: letters, digits, '.', '_', '-'), so they stay reachable.
 * Versions: SemVer 2 without a 'v' (chart.Metadata.Validate).
 */

/** Who names a chart: an upload here, or a chart that already exists (a proxied upstream's, a delete). */
export type ChartNameUse = 'new' | 'existing'

const NEW_CHART_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/
const EXISTING_CHART_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** SemVer 2.0.0 (semver.org), which Helm requires of chart versions; no 'v' prefix. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/

export function isChartVersion(v: string): boolean {
  return SEMVER.test(v)
}

/** Undefined when `name` is a valid chart name for `use`, else why not. */
export function checkChartName(name: string, use: ChartNameUse = 'new'): string | undefined {
  if (name.length > MAX_CHART_NAME_LENGTH) return `chart name is longer than ${MAX_CHART_NAME_LENGTH} characters`
  if (use === 'new' && !NEW_CHART_NAME.test(name)) {
    return `chart name "${name}" is invalid: use lower case letters and digits, words separated by single dashes (Helm's chart naming convention)`
  }
  if (!EXISTING_CHART_NAME.test(name)) return `chart name "${name}" is invalid (letters, digits, '.', '_' and '-', starting with a letter or digit)`
  return undefined
}

/** A chart file below charts/ as served and stored: {name}-{version}.tgz or its .prov. */
export const CHART_FILE = /^[A-Za-z0-9][A-Za-z0-9._+-]*\.tgz(\.prov)?$/
