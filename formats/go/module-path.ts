/**
 * Module paths, file paths inside module zips and their case encoding, after the rules of the
 * Go module reference ("Module paths", "Case-encoding" under "GOPROXY protocol") as
 * golang.org/x/mod/module implements them. Pure functions: each returns an error message
 * (string) or undefined, so callers pick the domain error.
 */

type PathKind = 'module' | 'file'

const WINDOWS_RESERVED = new Set([
  'CON', 'PRN', 'AUX', 'NUL',
  'COM1', 'COM2', 'COM3', 'COM4', 'COM5', 'COM6', 'COM7', 'COM8', 'COM9',
  'LPT1', 'LPT2', 'LPT3', 'LPT4', 'LPT5', 'LPT6', 'LPT7', 'LPT8', 'LPT9',
])

const ALNUM = /^[A-Za-z0-9]$/
/** Characters a module path element may hold besides ASCII letters and digits. */
const MODULE_EXTRA = '-._~'
/** Characters a file name in a module zip may hold besides letters and digits. */
const FILE_EXTRA = '!#$%&()+,-.=@[]^_{}~ '

function charOk(ch: string, kind: PathKind): boolean {
  if (ALNUM.test(ch)) return true
  if (kind === 'module') return MODULE_EXTRA.includes(ch)
  // Go allows any Unicode letter in file names, and these ASCII punctuation marks.
  if (ch.codePointAt(0)! < 0x80) return FILE_EXTRA.includes(ch)
  return /^\p{L}$/u.test(ch)
}

function checkElement(elem: string, kind: PathKind): string | undefined {
  if (elem === '') return 'empty path element'
  if (/^\.+$/.test(elem)) return `invalid path element "${elem}"`
  if (elem.startsWith('.') && kind === 'module') return `leading dot in path element "${elem}"`
  if (elem.endsWith('.')) return `trailing dot in path element "${elem}"`
  for (const ch of elem) {
    if (!charOk(ch, kind)) return `invalid char ${JSON.stringify(ch)} in path element "${elem}"`
  }
  const dot = elem.indexOf('.')
  const short = dot >= 0 ? elem.slice(0, dot) : elem
  if (WINDOWS_RESERVED.has(short.toUpperCase())) return `"${short}" disallowed as path element component on Windows`
  if (kind === 'module') {
    // Path elements that look like Windows short names (FOO~1) would alias other paths there.
    const tilde = short.lastIndexOf('~')
    if (tilde >= 0 && tilde < short.length - 1 && /^\d+$/.test(short.slice(tilde + 1))) {
      return `trailing tilde and digits in path element "${elem}"`
    }
  }
  return undefined
}

function checkPathCommon(path: string, kind: PathKind): string | undefined {
  if (path === '') return 'empty string'
  if (path.startsWith('-') && kind !== 'file') return 'leading dash'
  if (path.includes('//')) return 'double slash'
  if (path.endsWith('/')) return 'trailing slash'
  if (path.startsWith('/')) return 'leading slash'
  for (const elem of path.split('/')) {
    const err = checkElement(elem, kind)
    if (err) return err
  }
  return undefined
}

/**
 * Splits a module path into its prefix and major version suffix ('/v2', '.v2' for gopkg.in).
 * `ok` is false when the suffix is malformed ('/v0', '/v1', '/v01', '/v2.0').
 */
export function splitPathVersion(path: string): { prefix: string; pathMajor: string; ok: boolean } {
  if (path.startsWith('gopkg.in/')) {
    const m = /^(.*)\.(v(?:0|[1-9]\d*))(-unstable)?$/.exec(path)
    if (!m || m[1]!.endsWith('.') || m[1]!.endsWith('/')) return { prefix: path, pathMajor: '', ok: false }
    return { prefix: m[1]!, pathMajor: `.${m[2]!}${m[3] ?? ''}`, ok: true }
  }
  let i = path.length
  let dot = false
  while (i > 0 && /[0-9.]/.test(path[i - 1]!)) {
    if (path[i - 1] === '.') dot = true
    i--
  }
  if (i <= 1 || i === path.length || path[i - 1] !== 'v' || path[i - 2] !== '/') return { prefix: path, pathMajor: '', ok: true }
  const prefix = path.slice(0, i - 2)
  const pathMajor = path.slice(i - 2)
  if (dot || pathMajor.length <= 2 || pathMajor[2] === '0' || pathMajor === '/v1') return { prefix: path, pathMajor: '', ok: false }
  return { prefix, pathMajor, ok: true }
}

/**
 * Checks a module path: ASCII letters, digits and '-._~' in '/'-separated elements, no element
 * starting or ending with a dot, none reserved on Windows, and a first element that looks like a
 * domain name (lower case, digits, '.', '-', at least one dot). That last rule is the go
 * command's own for anything it fetches from a proxy, so a module without it could never be
 * downloaded: we keep it.
 */
export function checkModulePath(path: string): string | undefined {
  const err = checkPathCommon(path, 'module')
  if (err) return err
  const first = path.split('/')[0]!
  if (!first.includes('.')) return 'missing dot in first path element'
  if (first.startsWith('-')) return 'leading dash in first path element'
  if (!/^[a-z0-9.-]+$/.test(first)) return 'invalid char in first path element (lower-case letters, digits, dots and dashes only)'
  if (!splitPathVersion(path).ok) return 'invalid major version suffix'
  return undefined
}

/** Checks a file path relative to a module zip's root (golang.org/x/mod/module.CheckFilePath). */
export function checkFilePath(path: string): string | undefined {
  return checkPathCommon(path, 'file')
}

/** Case-encodes a module path or version for URLs and file names: 'A' → '!a'. */
export function escapeCase(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`)
}

/**
 * Decodes a case-encoded string ('!a' → 'A'). Undefined when it is not a valid encoding: an
 * upper-case letter, a '!' not followed by a lower-case letter, or a non-ASCII character.
 */
export function unescapeCase(escaped: string): string | undefined {
  let out = ''
  let bang = false
  for (const ch of escaped) {
    if (ch.codePointAt(0)! >= 0x80) return undefined
    if (bang) {
      bang = false
      if (ch < 'a' || ch > 'z') return undefined
      out += ch.toUpperCase()
      continue
    }
    if (ch === '!') {
      bang = true
      continue
    }
    if (ch >= 'A' && ch <= 'Z') return undefined
    out += ch
  }
  return bang ? undefined : out
}

/** Case folding for the collision check: two paths that fold alike collide on macOS and Windows. */
export function foldCase(path: string): string {
  return path.toUpperCase().toLowerCase()
}
