import { NotFoundError, REPOSITORY_KEY } from '../../store/index.ts'
import { DigestInvalidError, ManifestUnknownError, NameInvalidError } from './errors.ts'

/**
 * One path component of an OCI name (distribution-spec § Pulling manifests):
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
 */
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/
/** Tags: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
export const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
/** The only digest algorithm this registry stores. */
export const SHA256_DIGEST = /^sha256:([a-f0-9]{64})$/
/** Any well-formed digest (image-spec descriptor.md § Digests). */
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/
/** Longest full name (repository key + image), as Distribution enforces. */
export const MAX_NAME_LENGTH = 255

/** An OCI name split at its first segment: the repository key and the image inside it. */
export interface OciName {
  /** The full name as the client used it: `<repo>/<image>`. */
  full: string
  repo: string
  image: string
}

/**
 * Parses and checks a repository name (distribution-spec § Pulling manifests) as a whole:
 * `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255
 * characters. Its first component is the repository key, so a key that is no OCI component
 * (`a..b`, `a.`) names nothing here either.
 */
export function parseName(full: string): OciName {
  if (full.length > MAX_NAME_LENGTH) throw new NameInvalidError(`name is longer than ${MAX_NAME_LENGTH} characters`, { name: full.slice(0, 80) })
  const slash = full.indexOf('/')
  if (slash < 0) {
    throw new NameInvalidError(`name '${full}' must be <repository>/<image>: the first segment names the repository`, { name: full })
  }
  const repo = full.slice(0, slash)
  const image = full.slice(slash + 1)
  if (!REPOSITORY_KEY.test(repo) || !NAME_COMPONENT.test(repo)) throw new NameInvalidError(`'${repo}' is not a valid repository key`, { name: full })
  for (const c of image.split('/')) {
    if (!NAME_COMPONENT.test(c)) throw new NameInvalidError(`invalid image name '${image}'`, { name: full })
  }
  return { full, repo, image }
}

/** Whether `image` (a name without its repository key) is a valid image name inside a repository. */
export function isImageName(image: string): boolean {
  return image.length > 0 && image.length < MAX_NAME_LENGTH && image.split('/').every((c) => NAME_COMPONENT.test(c))
}

/** The hex of a sha256 digest; DigestInvalidError when malformed, UnsupportedError for other algorithms. */
export function parseDigest(digest: string): string {
  const m = SHA256_DIGEST.exec(digest)
  if (m) return m[1] as string
  if (ANY_DIGEST.test(digest)) throw new DigestInvalidError(`digest algorithm of '${digest}' is not supported; use sha256`, { digest })
  throw new DigestInvalidError(`invalid digest '${digest}'`, { digest })
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string; hex: string }

/** A manifest reference: a tag or a digest. */
export function parseReference(ref: string): Reference {
  if (ref.includes(':')) {
    const hex = parseDigest(ref)
    return { kind: 'digest', digest: ref, hex }
  }
  if (!TAG.test(ref)) throw new ManifestUnknownError(`invalid tag '${ref}'`, { tag: ref })
  return { kind: 'tag', tag: ref }
}

/** What a /v2/… path addresses. */
export type Route =
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; uuid: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string }

const ROUTES: [RegExp, (m: RegExpExecArray) => Route][] = [
  [/^(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1] as string, reference: m[2] as string })],
  [/^(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1] as string })],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1] as string, uuid: m[2] as string })],
  [/^(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1] as string, digest: m[2] as string })],
  [/^(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1] as string })],
  [/^(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1] as string, digest: m[2] as string })],
]

/**
 * Matches the part of a raw URL path after `/v2/` (no query, not normalised) against the spec's
 * endpoints. Names and references never need percent-encoding, so an encoded path is refused
 * rather than decoded.
 */
export function matchRoute(path: string): Route {
  if (path.includes('%')) throw new NameInvalidError(`percent-encoded characters are not allowed in '${path}'`)
  // Checked on the raw path: a URL parser would resolve `a/../b` into another name first.
  if (path.split('/').some((s) => s === '.' || s === '..')) throw new NameInvalidError(`'.' and '..' are not allowed in '${path}'`)
  for (const [re, make] of ROUTES) {
    const m = re.exec(path)
    if (m) return make(m)
  }
  throw new NotFoundError(`no OCI endpoint at /v2/${path}`)
}
