import type { Artifact, ArtifactStore, Repository } from '../../store/index.ts'
import type { ChartMetadata } from './chart-metadata.ts'

/**
 * Where charts live among the artifacts: `charts/{name}-{version}.tgz`, its provenance beside it
 * as `….tgz.prov`. The chart artifact carries the validated Chart.yaml and the upload time in its
 * properties, so index.yaml is generated from the artifact rows alone (and replicates with them).
 */

/** Properties kept on a chart artifact. */
export interface ChartProperties {
  helmChart: ChartMetadata
  /** RFC 3339 upload time, the index's `created`. */
  created: string
}

export const CHARTS_DIR = 'charts'

export function chartFileName(name: string, version: string): string {
  return `${name}-${version}.tgz`
}

export function chartPath(name: string, version: string): string {
  return `${CHARTS_DIR}/${chartFileName(name, version)}`
}

export function provPath(name: string, version: string): string {
  return `${chartPath(name, version)}.prov`
}

/** One stored chart version and the repository it was found in. */
export interface StoredChart {
  repo: Repository
  metadata: ChartMetadata
  created: string
  artifact: Artifact
}

function fromArtifact(repo: Repository, a: Artifact): StoredChart | undefined {
  const p = a.properties as Partial<ChartProperties>
  if (!p.helmChart || typeof p.helmChart.name !== 'string' || typeof p.helmChart.version !== 'string') return undefined
  return { repo, metadata: p.helmChart, created: typeof p.created === 'string' ? p.created : new Date(a.createdAt).toISOString(), artifact: a }
}

/** Every chart version across `repos`, merged: for a name and version held twice, the first repository wins. */
export function listCharts(artifacts: ArtifactStore, repos: Repository[]): StoredChart[] {
  const seen = new Set<string>()
  const out: StoredChart[] = []
  for (const repo of repos) {
    for (const a of artifacts.list(repo.key, CHARTS_DIR).files) {
      if (!a.path.endsWith('.tgz')) continue
      const chart = fromArtifact(repo, a)
      if (!chart) continue
      const key = `${chart.metadata.name}\u0000${chart.metadata.version}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push(chart)
    }
  }
  return out
}

/** The first repository's copy of a file below charts/ (a .tgz or .tgz.prov). */
export function findChartFile(artifacts: ArtifactStore, repos: Repository[], file: string): Artifact | undefined {
  for (const repo of repos) {
    const a = artifacts.get(repo.key, `${CHARTS_DIR}/${file}`)
    if (a) return a
  }
  return undefined
}

/** One chart version by name and version, first repository wins. */
export function findChart(artifacts: ArtifactStore, repos: Repository[], name: string, version: string): StoredChart | undefined {
  for (const repo of repos) {
    const a = artifacts.get(repo.key, chartPath(name, version))
    const chart = a ? fromArtifact(repo, a) : undefined
    if (chart) return chart
  }
  return undefined
}
