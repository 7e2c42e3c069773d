import { InvalidPathError } from './errors.ts'
import { MAX_PATH_LENGTH, MAX_SEGMENT_LENGTH } from './constants.ts'

/** Repository keys: lower-case, start with a letter or digit, at most 64 characters. */
export const REPOSITORY_KEY = /^[a-z0-9][a-z0-9._-]{0,63}$/

// Control characters (C0, DEL, C1) have no place in a stored path.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/**
 * Validates one decoded path segment. Rejects what could escape a directory or confuse a
 * filesystem or a client: empty, '.', '..', backslashes, NUL and other control characters.
 */
function checkSegment(segment: string, whole: string): void {
  if (segment === '' ) throw new InvalidPathError(`empty segment in path '${whole}'`)
  if (segment === '.' || segment === '..') throw new InvalidPathError(`path '${whole}' contains a '${segment}' segment`)
  if (segment.includes('\\')) throw new InvalidPathError(`path '${whole}' contains a backslash`)
  if (segment.includes('/')) throw new InvalidPathError(`path '${whole}' contains an encoded slash`)
  if (CONTROL.test(segment)) throw new InvalidPathError(`path '${whole}' contains a control character`)
  if (Buffer.byteLength(segment) > MAX_SEGMENT_LENGTH) throw new InvalidPathError(`a segment of path '${whole}' is longer than ${MAX_SEGMENT_LENGTH} bytes`)
}

/**
 * Parses the raw (still percent-encoded) remainder of a URL into a validated artifact path.
 * Returns the decoded path without leading slash, and whether the URL ended with a slash
 * (a directory request). An empty path is allowed only when `allowEmpty` (the repository root).
 */
export function parseRawPath(raw: string, allowEmpty = false): { path: string; directory: boolean } {
  const q = raw.indexOf('?')
  if (q >= 0) raw = raw.slice(0, q)
  if (raw.startsWith('/')) raw = raw.slice(1)
  const directory = raw === '' || raw.endsWith('/')
  const trimmed = directory ? raw.slice(0, -1) : raw
  if (trimmed === '') {
    if (allowEmpty) return { path: '', directory: true }
    throw new InvalidPathError('an artifact path is required')
  }
  if (trimmed.startsWith('/')) throw new InvalidPathError(`absolute or doubled-slash path '${raw}'`)
  const segments = trimmed.split('/').map((s) => {
    try {
      return decodeURIComponent(s)
    } catch {
      throw new InvalidPathError(`path '${raw}' has a malformed percent-encoding`)
    }
  })
  const path = segments.join('/')
  for (const s of segments) checkSegment(s, path)
  if (Buffer.byteLength(path) > MAX_PATH_LENGTH) throw new InvalidPathError(`path is longer than ${MAX_PATH_LENGTH} bytes`)
  return { path, directory }
}

/** Validates an already-decoded artifact path (as formats and replication produce them). */
export function validateArtifactPath(path: string): string {
  if (path === '' || path.startsWith('/') || path.endsWith('/')) throw new InvalidPathError(`invalid artifact path '${path}'`)
  if (Buffer.byteLength(path) > MAX_PATH_LENGTH) throw new InvalidPathError(`path is longer than ${MAX_PATH_LENGTH} bytes`)
  for (const s of path.split('/')) checkSegment(s, path)
  return path
}

export function validateRepositoryKey(key: string): string {
  if (!REPOSITORY_KEY.test(key)) {
    throw new InvalidPathError(`invalid repository key '${key}': use 1-64 of a-z 0-9 . _ - starting with a letter or digit`)
  }
  return key
}
