import { builtinModules } from 'node:module'
import semver from 'semver'
import { InvalidInputError, NotFoundError } from '../../store/index.ts'
import { MAX_NAME_LENGTH } from './constants.ts'

/*
 * Package names by the rules of npm's validate-npm-package-name (7.0.2, the copy the npm CLI
 * bundles; not a dependency of this project, so its rules are restated here, in its order and
 * words). The package sorts its findings into errors (never valid) and warnings (valid only for
 * packages that already exist: the npm registry still serves names from before a rule came in,
 * such as JSONStream). Publishing needs neither; reading, proxying and replicating only no errors.
 *
 * One thing the package lets through and the registry never did: a scope is a user or
 * organisation name (npm-user-validate: lower case, URL-safe, no leading '.'), so `@../x`, `@./x`
 * and `@.x/y` are refused here although validate-npm-package-name passes them.
 */

/** Names npm refuses whatever their spelling (validate-npm-package-name's exclusion list). */
const EXCLUDED_NAMES = new Set(['node_modules', 'favicon.ico'])

/** Node's core modules: valid only for packages that existed before the rule. */
const CORE_MODULES = new Set(builtinModules.filter((m) => !m.startsWith('node:')))

/** Characters npm no longer allows in new package names (in the part after the scope). */
const SPECIAL = /[~'!()*]/

/** validate-npm-package-name's split of `@scope/name` (scope optional). */
const SCOPED = /^(?:@([^/]+?)[/])?([^/]+?)$/

/** Who may use a name: a new package (publish), or one that may already exist (read, proxy, replicate). */
export type NameUse = 'new' | 'existing'

/** The problems validate-npm-package-name reports for `name`, as errors and warnings. */
function problems(name: string): { errors: string[]; warnings: string[] } {
  const errors: string[] = []
  const warnings: string[] = []
  if (name.length === 0) errors.push('name length must be greater than zero')
  if (name.startsWith('.')) errors.push('name cannot start with a period')
  if (name.startsWith('-')) errors.push('name cannot start with a hyphen')
  if (name.startsWith('_')) errors.push('name cannot start with an underscore')
  if (name.trim() !== name) errors.push('name cannot contain leading or trailing spaces')
  if (EXCLUDED_NAMES.has(name.toLowerCase())) errors.push(`${name} is not a valid package name`)
  if (CORE_MODULES.has(name.toLowerCase())) warnings.push(`${name} is a core module name`)
  if (name.length > MAX_NAME_LENGTH) warnings.push(`name can no longer contain more than ${MAX_NAME_LENGTH} characters`)
  if (name.toLowerCase() !== name) warnings.push('name can no longer contain capital letters')
  if (SPECIAL.test(name.split('/').slice(-1)[0] ?? '')) warnings.push('name can no longer contain special characters ("~\'!()*")')
  if (encodeURIComponent(name) !== name) {
    const m = SCOPED.exec(name)
    const scope = m?.[1]
    const pkg = m?.[2]
    if (pkg?.startsWith('.')) errors.push('name cannot start with a period')
    if (scope === undefined || pkg === undefined || encodeURIComponent(scope) !== scope || encodeURIComponent(pkg) !== pkg) {
      errors.push('name can only contain URL-friendly characters')
    } else {
      const scopeProblem = scopeNameProblem(scope)
      if (scopeProblem) errors.push(scopeProblem)
    }
  }
  return { errors, warnings }
}

/** A scope is a user or organisation name (npm-user-validate's username rules). */
function scopeNameProblem(scope: string): string | undefined {
  if (scope.toLowerCase() !== scope) return 'scope must be lowercase'
  if (scope.startsWith('.')) return 'scope may not start with "."'
  if (scope.length > MAX_NAME_LENGTH) return `scope may not be longer than ${MAX_NAME_LENGTH} characters`
  return undefined
}

/**
 * Why `name` is not a valid npm package name for `use`, or undefined when it is. A new package
 * must be free of errors and warnings (validForNewPackages), an existing one of errors
 * (validForOldPackages).
 */
export function packageNameProblem(name: string, use: NameUse = 'new'): string | undefined {
  const { errors, warnings } = problems(name)
  return errors[0] ?? (use === 'new' ? warnings[0] : undefined)
}

/** Whether `name` can name a package that exists (a read, a proxied or a replicated package). */
export function isValidPackageName(name: string): boolean {
  return packageNameProblem(name, 'existing') === undefined
}

/**
 * For reads and deletes: throws NotFoundError unless `name` could name an existing package.
 * Nothing is stored under another name, and no upstream is ever asked for one.
 */
export function requireExistingName(name: string): string {
  if (!isValidPackageName(name)) throw new NotFoundError(`package '${name}' not found`)
  return name
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
