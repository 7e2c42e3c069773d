import { InvalidInputError, InvalidPathError, NotFoundError } from '../../store/index.ts'
import { checkModulePath, unescapeCase } from './module-path.ts'
import { parseVersion } from './version.ts'

/**
 * The requests of the GOPROXY protocol (Go module reference, "GOPROXY protocol"), below
 * /go/{repo}/: {module}/@v/list, {module}/@v/{version}.info|.mod|.zip, {module}/@latest, with
 * the module path and version case-encoded ('!' + lower case for each upper-case letter).
 */
export type ProxyRequest =
  | { kind: 'list'; module: string }
  | { kind: 'latest'; module: string }
  | { kind: 'info' | 'mod' | 'zip'; module: string; version: string }

function decodeSegments(raw: string): string {
  return raw
    .split('/')
    .map((s) => {
      try {
        return decodeURIComponent(s)
      } catch {
        throw new InvalidPathError(`malformed percent-encoding in '${raw}'`)
      }
    })
    .join('/')
}

function decodeModule(escaped: string): string {
  const module = unescapeCase(escaped)
  if (module === undefined) throw new InvalidPathError(`'${escaped}' is not a valid case-encoded module path`)
  const err = checkModulePath(module)
  if (err) throw new InvalidPathError(`malformed module path "${module}": ${err}`)
  return module
}

/**
 * Parses what follows /go/{repo}/ (raw, query string allowed). Throws InvalidPathError for a
 * malformed module path or encoding, NotFoundError for a URL that is no GOPROXY request and for
 * a version query that is not a canonical version (a branch name, 'v1', …): a proxy that only
 * serves what was uploaded knows no such revision, and the go command reads 404 as "not found".
 * With `upload`, such a version is InvalidInputError instead (a PUT names what it stores).
 */
export function parseProxyPath(rawRest: string, options: { upload?: boolean } = {}): ProxyRequest {
  const q = rawRest.indexOf('?')
  const rest = decodeSegments(q >= 0 ? rawRest.slice(0, q) : rawRest)
  if (rest.endsWith('/@latest')) return { kind: 'latest', module: decodeModule(rest.slice(0, -'/@latest'.length)) }
  const at = rest.lastIndexOf('/@v/')
  if (at <= 0) throw new NotFoundError(`not found: '${rest}' is not a GOPROXY request`)
  const module = decodeModule(rest.slice(0, at))
  const file = rest.slice(at + '/@v/'.length)
  if (file === 'list') return { kind: 'list', module }
  const m = /^([^/]+)\.(info|mod|zip)$/.exec(file)
  if (!m) throw new NotFoundError(`not found: '${file}' is not a GOPROXY file`)
  const version = unescapeCase(m[1]!)
  if (version === undefined) throw new InvalidPathError(`'${m[1]!}' is not a valid case-encoded version`)
  if (!parseVersion(version) && options.upload) {
    throw new InvalidInputError(`"${version}" is not a canonical semantic version (vMAJOR.MINOR.PATCH[-PRERELEASE])`)
  }
  if (!parseVersion(version)) throw new NotFoundError(`not found: ${module}@${version}: unknown revision ${version}`)
  return { kind: m[2] as 'info' | 'mod' | 'zip', module, version }
}
