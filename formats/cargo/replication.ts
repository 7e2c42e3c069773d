import type { FormatReplicationHooks } from '../../store/index.ts'
import { REMOTE_METADATA_DIR, propertyText } from '../core/index.ts'
import { CARGO_FORMAT } from './constants.ts'
import { crateNameProblem, normalizeCrateName, parseIndexPath, versionProblem } from './names.ts'

/*
 * Cargo under replication: the sparse index is generated from the .crate artifacts and their
 * properties, so nothing needs rebuilding; the hook only keeps out paths no cargo repository
 * writes, with names and versions checked as a publish checks them.
 */

const REMOTE_INDEX_DIR = `${REMOTE_METADATA_DIR}/index/`
const CRATE = /^crates\/([^/]+)\/([^/]+)\.crate$/

/**
 * Why a replicated path is none a cargo repository writes: `crates/{name}/{name}-{version}.crate`
 * (name normalised, published or fetched by a remote repository), or a remote's copy of an
 * upstream index file (`.remote/index/config.json`, `.remote/index/{index path}`).
 */
export function cargoPathProblem(path: string): string | undefined {
  if (path.startsWith(REMOTE_INDEX_DIR)) {
    const rest = path.slice(REMOTE_INDEX_DIR.length)
    return rest === 'config.json' || parseIndexPath(rest) !== undefined ? undefined : `'${path}' is not a cargo index path`
  }
  const m = CRATE.exec(path)
  if (!m) return `'${path}' is not a .crate path`
  const [, name, file] = m as unknown as [string, string, string]
  const problem = crateNameProblem(name)
  if (problem) return problem
  if (normalizeCrateName(name) !== name || !file.startsWith(`${name}-`)) return `'${path}' is not a .crate path`
  return versionProblem(file.slice(name.length + 1))
}

export function cargoReplicationHooks(): FormatReplicationHooks {
  return { format: CARGO_FORMAT, pathProblem: cargoPathProblem, packageName: (p) => propertyText(p, 'cargo', 'name') }
}
