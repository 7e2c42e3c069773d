import type { FormatReplicationHooks } from '../../store/index.ts'
import { REMOTE_METADATA_DIR, propertyText } from '../core/index.ts'
import { GO_FORMAT } from './constants.ts'
import { checkModulePath } from './module-path.ts'
import { parseVersion } from './version.ts'

/*
 * Go under replication: @v/list, .info and @latest are generated from the zip artifacts and
 * their properties, so nothing needs rebuilding; the hook only keeps out paths no Go repository
 * writes, with module paths and versions checked as an upload checks them.
 */

const REMOTE_PREFIX = `${REMOTE_METADATA_DIR}/`
const VERSION_FILE = /^(.+)\.(zip|mod|info)$/

/**
 * Why a replicated path is none a Go repository writes: `{module}/@v/{version}.zip|.mod|.info`
 * (uploads, and a remote repository's copies), or a remote's mutable answers below `.remote/`
 * (`{module}/@v/list`, `{module}/@latest`, `{module}/@v/{query}.info`). Module paths are stored
 * decoded; a first element starting with '.' is never a module path, so `.remote/` is unambiguous.
 */
export function goPathProblem(path: string): string | undefined {
  const remote = path.startsWith(REMOTE_PREFIX)
  const rest = remote ? path.slice(REMOTE_PREFIX.length) : path
  const modulePathProblem = (module: string) => {
    const err = checkModulePath(module)
    return err && `malformed module path "${module}": ${err}`
  }
  if (remote && rest.endsWith('/@latest')) return modulePathProblem(rest.slice(0, -'/@latest'.length))
  const at = rest.lastIndexOf('/@v/')
  if (at <= 0) return `'${path}' is not a Go module path`
  const problem = modulePathProblem(rest.slice(0, at))
  if (problem) return problem
  const file = rest.slice(at + '/@v/'.length)
  if (remote && file === 'list') return undefined
  const m = VERSION_FILE.exec(file)
  if (!m || (remote && m[2] !== 'info')) return `'${path}' is not a Go module file`
  const version = m[1] as string
  // A remote's version queries (a branch, a commit prefix) are kept as asked; stored versions are canonical.
  if (remote) return version.startsWith('.') || /[\s\\]/.test(version) ? `invalid version query "${version}"` : undefined
  return parseVersion(version) ? undefined : `"${version}" is not a canonical semantic version`
}

export function goReplicationHooks(): FormatReplicationHooks {
  return { format: GO_FORMAT, pathProblem: goPathProblem, packageName: (p) => propertyText(p, 'goModule') }
}
