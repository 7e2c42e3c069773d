import type { Artifact, ArtifactStore, Repository } from '../../store/index.ts'
import { parseVersion } from './version.ts'

/**
 * Where module versions live among the artifacts, and what is read back from them. A version is
 * two artifacts: `{module}/@v/{version}.zip` (the module zip, with the version's metadata in its
 * properties) and `{module}/@v/{version}.mod` (its go.mod). Module paths and versions are stored
 * decoded (their real case); the listing, .info and @latest are generated from these rows, so
 * replication of the artifacts alone carries everything.
 */

/** Properties kept on a module zip artifact. */
export interface GoZipProperties {
  goModule: string
  goVersion: string
  /** RFC 3339 time of the version (its upload), as .info reports it. */
  time: string
  /** go.sum hash of the zip. */
  h1: string
  /** go.sum hash of the go.mod. */
  goModH1: string
}

export function versionDir(module: string): string {
  return `${module}/@v`
}

export function zipPath(module: string, version: string): string {
  return `${versionDir(module)}/${version}.zip`
}

export function modPath(module: string, version: string): string {
  return `${versionDir(module)}/${version}.mod`
}

/** One stored version and the repository it was found in. */
export interface StoredVersion {
  repo: Repository
  module: string
  version: string
  time: string
  zip: Artifact
}

function timeOf(a: Artifact): string {
  const t = a.properties.time
  return typeof t === 'string' ? t : new Date(a.createdAt).toISOString()
}

/** The first repository in `repos` holding module@version (first hit wins in a virtual repository). */
export function findVersion(artifacts: ArtifactStore, repos: Repository[], module: string, version: string): StoredVersion | undefined {
  for (const repo of repos) {
    const zip = artifacts.get(repo.key, zipPath(module, version))
    if (zip) return { repo, module, version, time: timeOf(zip), zip }
  }
  return undefined
}

/** Every stored version of `module` across `repos`, with its zip artifact (merged; the first repository's wins). */
export function listVersionZips(artifacts: ArtifactStore, repos: Repository[], module: string): Map<string, Artifact> {
  const out = new Map<string, Artifact>()
  for (const repo of repos) {
    for (const a of artifacts.list(repo.key, versionDir(module)).files) {
      if (!a.path.endsWith('.zip')) continue
      const v = a.path.slice(a.path.lastIndexOf('/') + 1, -'.zip'.length)
      if (parseVersion(v) && !out.has(v)) out.set(v, a)
    }
  }
  return out
}
