import { InvalidInputError, MalformedJsonError } from '../../store/index.ts'
import { MAX_DEPENDENCIES, MAX_FEATURES } from './constants.ts'
import { validateCrateName, validateVersion } from './names.ts'

/**
 * The JSON part of a publish body and the index line generated from it.
 * https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish
 * https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema
 */

export type DependencyKind = 'normal' | 'dev' | 'build'

/** One dependency as the index spells it (`req`, and `package` when renamed). */
export interface IndexDependency {
  name: string
  req: string
  features: string[]
  optional: boolean
  default_features: boolean
  target: string | null
  kind: DependencyKind
  registry?: string
  package?: string
}

/** One line of an index file: one version of a crate. */
export interface IndexEntry {
  name: string
  vers: string
  deps: IndexDependency[]
  cksum: string
  features: Record<string, string[]>
  features2?: Record<string, string[]>
  yanked: boolean
  links: string | null
  rust_version?: string
  v?: number
}

/** What the index does not carry but search and the docs page want. */
export interface CrateDescription {
  description: string | null
  keywords: string[]
  license: string | null
  repository: string | null
}

export interface PublishMetadata {
  /** The index line, with cksum left empty until the .crate is stored. */
  entry: IndexEntry
  about: CrateDescription
}

const KINDS: ReadonlySet<string> = new Set(['normal', 'dev', 'build'])
const FEATURE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_+.-]*$/
const VERSION_REQ = /^[0-9A-Za-z.*^~=<>, +-]+$/
const MAX_TEXT = 1024

type Json = Record<string, unknown>

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function optionalString(obj: Json, key: string, max = MAX_TEXT): string | null {
  const v = obj[key]
  if (v === undefined || v === null) return null
  if (typeof v !== 'string' || v.length > max) throw new InvalidInputError(`\`${key}\` must be a string of at most ${max} characters`)
  return v
}

function stringList(v: unknown, what: string, max: number): string[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || v.length > max || !v.every((s) => typeof s === 'string' && s.length <= MAX_TEXT)) {
    throw new InvalidInputError(`${what} must be a list of at most ${max} strings`)
  }
  return v as string[]
}

function boolean(v: unknown, what: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'boolean') throw new InvalidInputError(`${what} must be true or false`)
  return v
}

function dependency(raw: unknown, i: number): IndexDependency {
  if (!isObject(raw)) throw new InvalidInputError(`dependency #${i + 1} must be an object`)
  const name = validateCrateName(raw.name, `dependency name`)
  const req = raw.version_req
  if (typeof req !== 'string' || req === '' || req.length > 256 || !VERSION_REQ.test(req)) {
    throw new InvalidInputError(`dependency \`${name}\` has an invalid version requirement \`${String(req).slice(0, 80)}\``)
  }
  const kind = raw.kind ?? 'normal'
  if (typeof kind !== 'string' || !KINDS.has(kind)) {
    throw new InvalidInputError(`dependency \`${name}\` has an unknown kind \`${String(kind)}\` (normal, dev or build)`)
  }
  const target = optionalString(raw, 'target', 256)
  const registry = optionalString(raw, 'registry', 2048)
  const explicit = raw.explicit_name_in_toml
  const dep: IndexDependency = {
    name,
    req,
    features: stringList(raw.features, `the features of dependency \`${name}\``, MAX_FEATURES),
    optional: boolean(raw.optional, `\`optional\` of dependency \`${name}\``, false),
    default_features: boolean(raw.default_features, `\`default_features\` of dependency \`${name}\``, true),
    target,
    kind: kind as DependencyKind,
  }
  if (registry !== null) dep.registry = registry
  // A dependency renamed in Cargo.toml: the index names it by its local name and keeps the real one in `package`.
  if (explicit !== undefined && explicit !== null) {
    dep.name = validateCrateName(explicit, 'dependency rename')
    dep.package = name
  }
  return dep
}

/** Splits features into the classic map and `features2` (the `dep:` and `?/` syntax older cargo cannot read). */
function features(raw: unknown): { features: Record<string, string[]>; features2?: Record<string, string[]> } {
  if (raw === undefined || raw === null) return { features: {} }
  if (!isObject(raw)) throw new InvalidInputError('`features` must be an object of feature name → list of strings')
  const entries = Object.entries(raw)
  if (entries.length > MAX_FEATURES) throw new InvalidInputError(`at most ${MAX_FEATURES} features are allowed`)
  const classic: Record<string, string[]> = {}
  const modern: Record<string, string[]> = {}
  for (const [key, list] of entries) {
    if (key.length > 100 || !FEATURE_NAME.test(key)) throw new InvalidInputError(`invalid feature name \`${key.slice(0, 80)}\``)
    const values = stringList(list, `feature \`${key}\``, MAX_FEATURES)
    if (values.some((v) => v.startsWith('dep:') || v.includes('?/'))) modern[key] = values
    else classic[key] = values
  }
  return Object.keys(modern).length > 0 ? { features: classic, features2: modern } : { features: classic }
}

/** Validates the publish JSON and builds the version's index line (cksum still empty). */
export function parsePublishMetadata(json: Buffer): PublishMetadata {
  let raw: unknown
  try {
    raw = JSON.parse(json.toString('utf8'))
  } catch (err) {
    throw new MalformedJsonError(`the publish metadata is not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(raw)) throw new InvalidInputError('the publish metadata must be a JSON object')
  const name = validateCrateName(raw.name)
  const vers = validateVersion(raw.vers)
  const deps = raw.deps ?? []
  if (!Array.isArray(deps) || deps.length > MAX_DEPENDENCIES) {
    throw new InvalidInputError(`\`deps\` must be a list of at most ${MAX_DEPENDENCIES} dependencies`)
  }
  const links = optionalString(raw, 'links', 256)
  const rustVersion = optionalString(raw, 'rust_version', 64)
  if (rustVersion !== null && !/^[0-9]+(\.[0-9]+){0,2}$/.test(rustVersion)) {
    throw new InvalidInputError(`invalid rust_version \`${rustVersion}\``)
  }
  const split = features(raw.features)
  const entry: IndexEntry = {
    name,
    vers,
    deps: deps.map(dependency),
    cksum: '',
    features: split.features,
    yanked: false,
    links,
  }
  if (split.features2) {
    entry.features2 = split.features2
    entry.v = 2
  }
  if (rustVersion !== null) entry.rust_version = rustVersion
  return {
    entry,
    about: {
      description: optionalString(raw, 'description', 64 * 1024),
      keywords: stringList(raw.keywords, '`keywords`', 64),
      license: optionalString(raw, 'license'),
      repository: optionalString(raw, 'repository'),
    },
  }
}
