import { InvalidInputError } from '../../store/index.ts'
import { MAX_CRATE_NAME_LENGTH } from './constants.ts'

/**
 * Crate names, versions and index paths, as cargo and crates.io define them.
 * https://doc.rust-lang.org/cargo/reference/registry-index.html#index-files
 * https://doc.rust-lang.org/cargo/reference/manifest.html#the-name-field
 */

const CRATE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/
/** Names Windows cannot create as files; cargo refuses to package them and so do we. */
const RESERVED = new Set(['con', 'prn', 'aux', 'nul', ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((n) => [`com${n}`, `lpt${n}`])])

/** Why `name` is not a crate name a registry may accept (crates.io's rules), or undefined. */
export function crateNameProblem(name: unknown, what = 'crate name'): string | undefined {
  if (typeof name !== 'string' || name === '') return `the ${what} must be a non-empty string`
  if (name.length > MAX_CRATE_NAME_LENGTH) return `the ${what} \`${name.slice(0, 80)}\` is too long (max ${MAX_CRATE_NAME_LENGTH} characters)`
  if (!CRATE_NAME.test(name)) return `invalid ${what} \`${name}\`: use ASCII letters, digits, \`-\` and \`_\`, starting with a letter`
  if (RESERVED.has(name.toLowerCase())) return `the ${what} \`${name}\` is a reserved name`
  return undefined
}

/** Throws InvalidInputError unless `name` is a crate name a registry may accept. */
export function validateCrateName(name: unknown, what = 'crate name'): string {
  const problem = crateNameProblem(name, what)
  if (problem !== undefined) throw new InvalidInputError(problem)
  return name as string
}

/**
 * The key two names collide on: crates.io treats `foo-bar`, `foo_bar` and `Foo_Bar` as one
 * crate, so a registry must not hold two of them.
 */
export function normalizeCrateName(name: string): string {
  return name.toLowerCase().replace(/_/g, '-')
}

/** Where a crate's index file lives below the index root (lower-cased, as cargo asks for it). */
export function indexPath(name: string): string {
  const n = name.toLowerCase()
  if (n.length === 1) return `1/${n}`
  if (n.length === 2) return `2/${n}`
  if (n.length === 3) return `3/${n[0]}/${n}`
  return `${n.slice(0, 2)}/${n.slice(2, 4)}/${n}`
}

/** The crate name an index path asks for, or undefined when the path is not one cargo would build. */
export function parseIndexPath(path: string): string | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1)
  if (!CRATE_NAME.test(name) || name.length > MAX_CRATE_NAME_LENGTH) return undefined
  return indexPath(name) === path ? name : undefined
}

// Semantic Versioning 2.0.0, https://semver.org/#spec-item-2 … #spec-item-10: no leading
// zeros in numeric identifiers, optional pre-release and build metadata.
const NUM = '(?:0|[1-9][0-9]*)'
const PRE = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)'
const SEMVER = new RegExp(`^${NUM}\\.${NUM}\\.${NUM}(?:-${PRE}(?:\\.${PRE})*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$`)
const MAX_VERSION_LENGTH = 128

/** Why `vers` is not a strict semver version (cargo's rule), or undefined. */
export function versionProblem(vers: unknown): string | undefined {
  if (typeof vers !== 'string' || vers.length > MAX_VERSION_LENGTH || !SEMVER.test(vers)) {
    return `invalid version \`${String(vers).slice(0, 80)}\`: expected a semver version like 1.2.3`
  }
  return undefined
}

/** Throws InvalidInputError unless `vers` is a strict semver version (cargo's rule). */
export function validateVersion(vers: unknown): string {
  const problem = versionProblem(vers)
  if (problem !== undefined) throw new InvalidInputError(problem)
  return vers as string
}

/** A version without its build metadata: cargo and crates.io treat 1.0.0+a and 1.0.0+b as the same version. */
export function versionKey(vers: string): string {
  const plus = vers.indexOf('+')
  return plus < 0 ? vers : vers.slice(0, plus)
}
