import type { FormatReplicationHooks } from '../../store/index.ts'
import { propertyText } from '../core/index.ts'
import { PYPI_FORMAT } from './constants.ts'
import { PACKAGES_DIR } from './layout.ts'
import { isNormalizedProjectName } from './names.ts'
import { REMOTE_PAGES_DIR } from './remote.ts'

/*
 * PyPI under replication: the simple index is generated from the distribution artifacts and
 * their properties, so nothing needs rebuilding; the hook only keeps out paths no PyPI
 * repository writes. Projects live under their PEP 503 normal name, so a path under any other
 * spelling (or under no valid name at all) is no upload's.
 */

const DIST = new RegExp(`^${PACKAGES_DIR}/([^/]+)/[^/]+$`)
const PAGES_PREFIX = `${REMOTE_PAGES_DIR}/`
const PAGE_SUFFIX = '/page'

/**
 * Why a replicated path is none a PyPI repository writes: `packages/{project}/{filename}`
 * (uploads and their .metadata, a remote repository's copies of upstream files) or a remote's
 * project page `.remote/simple/{project}/page`, `project` in its PEP 503 normal form.
 */
export function pypiPathProblem(path: string): string | undefined {
  let project: string | undefined
  if (path.startsWith(PAGES_PREFIX) && path.endsWith(PAGE_SUFFIX)) project = path.slice(PAGES_PREFIX.length, -PAGE_SUFFIX.length)
  else project = DIST.exec(path)?.[1]
  if (project === undefined) return `'${path}' is not a PyPI distribution path`
  return isNormalizedProjectName(project) ? undefined : `'${project}' is not a normalised project name (PEP 503)`
}

export function pypiReplicationHooks(): FormatReplicationHooks {
  return { format: PYPI_FORMAT, pathProblem: pypiPathProblem, packageName: (p) => propertyText(p, 'pypi', 'name') }
}
