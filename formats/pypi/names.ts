import { InvalidInputError } from '../../store/index.ts'

/**
 * Project names, versions and distribution filenames, as the packaging specifications define them:
 * names (https://packaging.python.org/en/latest/specifications/name-normalization/), PEP 440
 * versions, wheel filenames (binary distribution format) and sdist filenames (PEP 625).
 */

// Core metadata "Name": ASCII letters, digits, '.', '_' and '-', starting and ending alphanumeric.
const PROJECT_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i
const MAX_PROJECT_NAME = 200

/** PEP 503 normalisation: runs of '-', '_' and '.' become one '-', lower case. */
export function normalizeProjectName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase()
}

export function isValidProjectName(name: string): boolean {
  return name.length <= MAX_PROJECT_NAME && PROJECT_NAME.test(name)
}

/** Whether `name` is already in its PEP 503 normal form (simple-index URLs redirect otherwise). */
export function isNormalizedProjectName(name: string): boolean {
  return isValidProjectName(name) && normalizeProjectName(name) === name
}

// PEP 440 appendix B, the permissive form (case-insensitive, optional separators, leading 'v').
const VERSION =
  /^\s*v?(?:(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?)(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/i
const MAX_VERSION = 128

/** The PEP 440 normal form of `version` ('1.0-BETA.2' → '1.0b2'), or undefined when it is not PEP 440. */
export function normalizeVersion(version: string): string | undefined {
  if (version.length > MAX_VERSION) return undefined
  const m = VERSION.exec(version)
  if (!m) return undefined
  const [, epoch, release, preL, preN, postImplicit, postL, postN, devL, devN, local] = m
  let out = epoch && Number(epoch) !== 0 ? `${BigInt(epoch)}!` : ''
  out += (release as string).split('.').map((n) => BigInt(n).toString()).join('.')
  if (preL) {
    const l = preL.toLowerCase()
    const label = l === 'alpha' ? 'a' : l === 'beta' ? 'b' : l === 'c' || l === 'pre' || l === 'preview' ? 'rc' : l
    out += `${label}${BigInt(preN ?? '0')}`
  }
  if (postImplicit !== undefined) out += `.post${BigInt(postImplicit)}`
  else if (postL) out += `.post${BigInt(postN ?? '0')}`
  if (devL) out += `.dev${BigInt(devN ?? '0')}`
  if (local) out += `+${local.toLowerCase().replace(/[-_]/g, '.')}`
  return out
}

export interface WheelFilename {
  kind: 'wheel'
  /** The distribution part as written (escaped: '_' for runs of '-', '_', '.'). */
  project: string
  version: string
  build: string | undefined
  pythonTag: string
  abiTag: string
  platformTag: string
}

export interface SdistFilename {
  kind: 'sdist'
  project: string
  version: string
}

export type DistributionFilename = WheelFilename | SdistFilename

const WHEEL_NAME_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$/
const BUILD_TAG = /^\d[A-Za-z0-9_.]*$/
const COMPAT_TAG = /^[A-Za-z0-9_.]+$/
const SDIST_SUFFIX = '.tar.gz'
const MAX_FILENAME = 255

/**
 * Parses a distribution filename: `{name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl` or
 * `{name}-{ver}.tar.gz`. For sdists the split between name and version can be ambiguous in
 * legacy names ('foo-1.0-1.tar.gz'); `project`, when given, picks the split whose name matches it.
 * Throws InvalidInputError naming what is wrong.
 */
export function parseDistributionFilename(filename: string, project?: string): DistributionFilename {
  if (filename.length > MAX_FILENAME || filename.includes('/') || filename.includes('\\')) {
    throw new InvalidInputError(`Invalid distribution file name '${filename}'`)
  }
  if (filename.endsWith('.whl')) return parseWheelFilename(filename)
  if (filename.endsWith(SDIST_SUFFIX)) return parseSdistFilename(filename, project)
  throw new InvalidInputError(
    `Invalid file extension: '${filename}' is neither a wheel (.whl) nor a source distribution (.tar.gz, PEP 625)`,
  )
}

function parseWheelFilename(filename: string): WheelFilename {
  const parts = filename.slice(0, -'.whl'.length).split('-')
  const bad = (why: string) => new InvalidInputError(`Invalid wheel filename '${filename}': ${why}`)
  if (parts.length !== 5 && parts.length !== 6) throw bad('expected {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl')
  const [project, version] = parts as [string, string]
  const build = parts.length === 6 ? parts[2] : undefined
  const [pythonTag, abiTag, platformTag] = parts.slice(-3) as [string, string, string]
  if (!WHEEL_NAME_PART.test(project)) throw bad(`invalid project name '${project}'`)
  if (normalizeVersion(version) === undefined) throw bad(`invalid version '${version}' (PEP 440)`)
  if (build !== undefined && !BUILD_TAG.test(build)) throw bad(`invalid build tag '${build}'`)
  for (const t of [pythonTag, abiTag, platformTag]) if (!COMPAT_TAG.test(t)) throw bad(`invalid compatibility tag '${t}'`)
  return { kind: 'wheel', project, version, build, pythonTag, abiTag, platformTag }
}

function parseSdistFilename(filename: string, project?: string): SdistFilename {
  const stem = filename.slice(0, -SDIST_SUFFIX.length)
  const wanted = project === undefined ? undefined : normalizeProjectName(project)
  // Try every '-' from the right: the version never contains one in its normal form.
  for (let i = stem.lastIndexOf('-'); i > 0; i = stem.lastIndexOf('-', i - 1)) {
    const name = stem.slice(0, i)
    const version = stem.slice(i + 1)
    if (!isValidProjectName(name) || normalizeVersion(version) === undefined) continue
    if (wanted !== undefined && normalizeProjectName(name) !== wanted) continue
    return { kind: 'sdist', project: name, version }
  }
  throw new InvalidInputError(
    `Invalid source distribution filename '${filename}': expected {name}-{version}.tar.gz` +
      (project === undefined ? '' : ` with the project name '${project}'`),
  )
}
