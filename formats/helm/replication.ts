import type { FormatReplicationHooks } from '../../store/index.ts'
import { REMOTE_METADATA_DIR, propertyText } from '../core/index.ts'
import { CHARTS_DIR } from './chart-store.ts'
import { HELM_FORMAT } from './constants.ts'
import { CHART_FILE } from './names.ts'

/*
 * Helm under replication: index.yaml is generated from the chart artifacts, so nothing needs
 * rebuilding; the hook only keeps out paths no chart repository writes.
 */

const REMOTE_INDEX = `${REMOTE_METADATA_DIR}/index.yaml`

/**
 * Why a replicated path is none a chart repository writes: `charts/{file}` with a chart file
 * name (uploads, or a remote repository's copies of upstream charts), or a remote's index.yaml.
 */
export function helmPathProblem(path: string): string | undefined {
  if (path === REMOTE_INDEX) return undefined
  const file = path.startsWith(`${CHARTS_DIR}/`) ? path.slice(CHARTS_DIR.length + 1) : undefined
  if (file === undefined || !CHART_FILE.test(file)) return `'${path}' is not a chart file path`
  return undefined
}

export function helmReplicationHooks(): FormatReplicationHooks {
  return { format: HELM_FORMAT, pathProblem: helmPathProblem, packageName: (p) => propertyText(p, 'helmChart', 'name') }
}
