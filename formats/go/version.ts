import { splitPathVersion } from './module-path.ts'

/**
 * Module versions: Go's dialect of semantic versioning (golang.org/x/mod/semver) and the rules
 * that tie a version to its module path (Go module reference, "Versions", "Major version
 * suffixes", "Compatibility with non-module repositories"). Pure functions.
 */

export interface GoVersion {
  major: string
  minor: string
  patch: string
  /** Dot-separated identifiers after '-', or [] for a release. */
  prerelease: string[]
  /** Text after '+', '' when absent. */
  build: string
}

const NUM = '(0|[1-9]\\d*)'
const PRE_IDENT = '(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)'
const BUILD_IDENT = '[0-9A-Za-z-]+'
const CANONICAL = new RegExp(
  `^v${NUM}\\.${NUM}\\.${NUM}(?:-(${PRE_IDENT}(?:\\.${PRE_IDENT})*))?(?:\\+(${BUILD_IDENT}(?:\\.${BUILD_IDENT})*))?$`,
)

/** Parses a full vMAJOR.MINOR.PATCH[-pre][+build] version; undefined when it is not one. */
export function parseVersion(v: string): GoVersion | undefined {
  const m = CANONICAL.exec(v)
  if (!m) return undefined
  return { major: m[1]!, minor: m[2]!, patch: m[3]!, prerelease: m[4] ? m[4].split('.') : [], build: m[5] ?? '' }
}

function compareNumeric(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

function compareIdent(a: string, b: string): number {
  const an = /^\d+$/.test(a)
  const bn = /^\d+$/.test(b)
  if (an && bn) return compareNumeric(a, b)
  if (an) return -1
  if (bn) return 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** Semantic-version order (build metadata ignored); unparsable versions sort first. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a)
  const y = parseVersion(b)
  if (!x || !y) return x ? 1 : y ? -1 : 0
  for (const k of ['major', 'minor', 'patch'] as const) {
    const c = compareNumeric(x[k], y[k])
    if (c !== 0) return c
  }
  if (x.prerelease.length === 0 || y.prerelease.length === 0) {
    return x.prerelease.length === y.prerelease.length ? 0 : x.prerelease.length === 0 ? 1 : -1
  }
  for (let i = 0; i < Math.min(x.prerelease.length, y.prerelease.length); i++) {
    const c = compareIdent(x.prerelease[i]!, y.prerelease[i]!)
    if (c !== 0) return c
  }
  return Math.sign(x.prerelease.length - y.prerelease.length)
}

const PSEUDO = /^v[0-9]+\.(0\.0-|\d+\.\d+-([^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/

/** A pseudo-version (v0.0.0-20191109021931-daa7c04131f5 and its variants). */
export function isPseudoVersion(v: string): boolean {
  return (v.match(/-/g)?.length ?? 0) >= 2 && parseVersion(v) !== undefined && PSEUDO.test(v)
}

/**
 * Checks that `version` is a canonical module version for `modulePath`: a full semantic version
 * whose only build metadata may be '+incompatible', whose major version matches the path's
 * suffix (/vN, or none for v0 and v1), and that carries '+incompatible' only for v2 and above
 * without a suffix. Returns an error message or undefined.
 */
export function checkModuleVersion(modulePath: string, version: string): string | undefined {
  const v = parseVersion(version)
  if (!v) return `"${version}" is not a canonical semantic version (vMAJOR.MINOR.PATCH[-PRERELEASE])`
  if (v.build !== '' && v.build !== 'incompatible') return `"${version}" is not canonical: build metadata other than +incompatible`
  const incompatible = v.build === 'incompatible'
  const { pathMajor } = splitPathVersion(modulePath)
  if (pathMajor === '') {
    if (incompatible && (v.major === '0' || v.major === '1')) {
      return `"${version}": +incompatible is only for major versions v2 and above`
    }
    if (!incompatible && v.major !== '0' && v.major !== '1') {
      return `"${version}": should be v0 or v1, not v${v.major} (a v${v.major} module path ends in /v${v.major}, or the version carries +incompatible)`
    }
    return undefined
  }
  if (incompatible) return `"${version}": +incompatible is not allowed for a module path with a major version suffix`
  let want = pathMajor.slice(1)
  if (pathMajor.startsWith('.')) {
    want = want.replace(/-unstable$/, '')
    // gopkg.in/x.v1 may carry v0 pseudo-versions.
    if (want === 'v1' && version.startsWith('v0.0.0-')) return undefined
  }
  if (`v${v.major}` !== want) return `"${version}": should be ${want}, not v${v.major}`
  return undefined
}

/**
 * The version @latest names, out of those stored: the highest release, else the highest
 * pre-release, else the highest pseudo-version. Compatible versions are preferred over
 * +incompatible ones, as the go command does.
 */
export function latestVersion(versions: Iterable<string>): string | undefined {
  const all = [...versions].filter((v) => parseVersion(v) !== undefined)
  const tiers: ((v: string) => boolean)[] = [
    (v) => !isPseudoVersion(v) && parseVersion(v)!.prerelease.length === 0 && !v.endsWith('+incompatible'),
    (v) => !isPseudoVersion(v) && parseVersion(v)!.prerelease.length === 0,
    (v) => !isPseudoVersion(v),
    () => true,
  ]
  for (const tier of tiers) {
    const candidates = all.filter(tier)
    if (candidates.length > 0) return candidates.sort(compareVersions).at(-1)
  }
  return undefined
}
