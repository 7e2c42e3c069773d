import semver from 'semver'
import { InvalidInputError } from '../../store/index.ts'
import { MAX_NAME_LENGTH } from './constants.ts'

/** Names npm refuses whatever their spelling (validate-npm-package-name's blocklist). */
const BLOCKED_NAMES = new Set(['node_modules', 'favicon.ico'])

/** Characters npm no longer allows in new package names. */
const SPECIAL = /[~'!()*]/

/**
 * Why `name` is not a valid name for a new npm package, or undefined when it is. The rules of
 * npm's validate-npm-package-name for new packages: non-empty, at most 214 characters, no
 * leading '.' or '_', no surrounding spaces, lower case, none of ~'!()*, and URL-safe (for a
 * scoped name, `@scope/name` with each part URL-safe).
 */
export function packageNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'name length must be greater than zero'
  if (name.length > MAX_NAME_LENGTH) return `name can no longer contain more than ${MAX_NAME_LENGTH} characters`
  if (name.startsWith('.')) return 'name cannot start with a period'
  if (name.startsWith('_')) return 'name cannot start with an underscore'
  if (name.trim() !== name) return 'name cannot contain leading or trailing spaces'
  if (BLOCKED_NAMES.has(name.toLowerCase())) return `${name} is not a valid package name`
  if (name.toLowerCase() !== name) return 'name can no longer contain capital letters'
  if (SPECIAL.test(name.split('/').slice(-1)[0] ?? '')) return 'name can no longer contain special characters ("~\'!()*")'
  if (encodeURIComponent(name) !== name) {
    const m = /^@([^/]+)\/([^/]+)$/.exec(name)
    if (m) {
      const [, scope, pkg] = m as unknown as [string, string, string]
      if (encodeURIComponent(scope) === scope && encodeURIComponent(pkg) === pkg && !pkg.startsWith('.') && !pkg.startsWith('_')) {
        return undefined
      }
    }
    return 'name can only contain URL-friendly characters'
  }
  return undefined
}

export function isValidPackageName(name: string): boolean {
  return packageNameProblem(name) === undefined
}

/** Throws InvalidInputError in npm's words when `name` cannot be published. */
export function validatePackageName(name: string): string {
  const problem = packageNameProblem(name)
  if (problem) throw new InvalidInputError(`Invalid package name "${name}": ${problem}`)
  return name
}

/** `@scope/pkg` → `pkg`; `pkg` → `pkg`. */
export function unscopedName(name: string): string {
  return name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name
}

/** File name of a version's tarball, as the npm registry names it: `{unscoped}-{version}.tgz`. */
export function tarballFileName(name: string, version: string): string {
  return `${unscopedName(name)}-${version}.tgz`
}

/** Artifact path of a version's tarball: `{name}/-/{file}` (scoped names keep their slash). */
export function tarballPath(name: string, version: string): string {
  return `${name}/-/${tarballFileName(name, version)}`
}

/** A version as npm publishes it: valid semver, already in clean form (no leading 'v', no build metadata). */
export function validateVersion(version: unknown): string {
  if (typeof version !== 'string' || semver.valid(version) === null || semver.clean(version) !== version) {
    throw new InvalidInputError(`Invalid version: "${String(version)}"`)
  }
  return version
}

/**
 * A dist-tag: a non-empty, URL-safe name that is not itself a semver range (npm would read
 * `pkg@1` as a range, never as a tag).
 */
export function validateTag(tag: unknown): string {
  if (typeof tag !== 'string' || tag === '' || tag.length > 128 || encodeURIComponent(tag) !== tag) {
    throw new InvalidInputError(`Invalid dist-tag: "${String(tag)}"`)
  }
  if (semver.validRange(tag) !== null) throw new InvalidInputError(`Tag name must not be a valid SemVer range: ${tag}`)
  return tag
}
