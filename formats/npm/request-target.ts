import { InvalidPathError, NotFoundError, validateRepositoryKey } from '../../store/index.ts'

/**
 * What an npm request under /npm/{repo}/ addresses (npm registry API). Package names arrive
 * either escaped as one segment (`@scope%2fname`, what the npm CLI sends) or as two
 * (`@scope/name`, tarball URLs).
 */
export type NpmTarget =
  | { kind: 'ping' }
  | { kind: 'whoami' }
  | { kind: 'search' }
  | { kind: 'user'; user: string }
  | { kind: 'token'; token: string }
  | { kind: 'dist-tags'; name: string; tag: string | undefined }
  /** The packument; rev is set for `/{name}/-rev/{rev}`. */
  | { kind: 'package'; name: string; rev: string | undefined }
  | { kind: 'tarball'; name: string; file: string; rev: string | undefined }
  | { kind: 'version'; name: string; spec: string }

export interface ParsedUrl {
  repoKey: string
  target: NpmTarget
  query: URLSearchParams
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new InvalidPathError(`malformed percent-encoding in '${segment}'`)
  }
}

/** Splits the name off the front of `segments`: `[name, rest]`. */
function takeName(segments: string[]): [string, string[]] {
  const first = segments[0] ?? ''
  if (first.startsWith('@') && !first.includes('/') && segments.length > 1) {
    return [`${first}/${segments[1]}`, segments.slice(2)]
  }
  return [first, segments.slice(1)]
}

function unknown(path: string): never {
  throw new NotFoundError(`no npm endpoint at '${path}'`)
}

/** Parses the part of the raw URL after the plugin prefix (`/{repo}/…?query`). */
export function parseNpmUrl(rawAfterPrefix: string): ParsedUrl {
  const q = rawAfterPrefix.indexOf('?')
  const path = q < 0 ? rawAfterPrefix : rawAfterPrefix.slice(0, q)
  const query = new URLSearchParams(q < 0 ? '' : rawAfterPrefix.slice(q + 1))
  const raw = path.replace(/^\//, '').split('/')
  let repoKey: string
  try {
    repoKey = validateRepositoryKey(decode(raw[0] ?? ''))
  } catch {
    throw new InvalidPathError(`invalid repository key in '${path}'`)
  }
  // A trailing slash (…/name/) addresses the same thing as without it.
  const segments = raw.slice(1).map(decode)
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop()
  if (segments.length === 0) unknown(path)
  const target = ((): NpmTarget => {
    if (segments[0] === '-') {
      const [, a, b, c] = segments
      if (a === 'ping' && segments.length === 2) return { kind: 'ping' }
      if (a === 'whoami' && segments.length === 2) return { kind: 'whoami' }
      if (a === 'v1' && b === 'search' && segments.length === 3) return { kind: 'search' }
      if (a === 'user' && b?.startsWith('org.couchdb.user:') && (segments.length === 3 || (segments.length === 5 && c === '-rev'))) {
        return { kind: 'user', user: b.slice('org.couchdb.user:'.length) }
      }
      if (a === 'user' && b === 'token' && c !== undefined && segments.length === 4) return { kind: 'token', token: c }
      if (a === 'package' && segments.length >= 4) {
        const [name, rest] = takeName(segments.slice(2))
        if (rest[0] === 'dist-tags' && rest.length <= 2) return { kind: 'dist-tags', name, tag: rest[1] }
      }
      unknown(path)
    }
    const [name, rest] = takeName(segments)
    if (rest.length === 0) return { kind: 'package', name, rev: undefined }
    if (rest[0] === '-rev' && rest.length === 2) return { kind: 'package', name, rev: rest[1] }
    if (rest[0] === '-' && rest.length === 2) return { kind: 'tarball', name, file: rest[1] as string, rev: undefined }
    if (rest[0] === '-' && rest.length === 4 && rest[2] === '-rev') return { kind: 'tarball', name, file: rest[1] as string, rev: rest[3] }
    if (rest.length === 1) return { kind: 'version', name, spec: rest[0] as string }
    unknown(path)
  })()
  return { repoKey, target, query }
}
