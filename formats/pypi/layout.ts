import type { Artifact } from '../../store/index.ts'

/**
 * Where PyPI files live inside a repository: `packages/{normalized project}/{filename}`, and the
 * wheel's core metadata (PEP 658) beside it as `{filename}.metadata`. Downloads are served from
 * the same paths under /pypi/{repo}/.
 */
export const PACKAGES_DIR = 'packages'
export const METADATA_SUFFIX = '.metadata'

export function projectDir(project: string): string {
  return `${PACKAGES_DIR}/${project}`
}

export function distPath(project: string, filename: string): string {
  return `${PACKAGES_DIR}/${project}/${filename}`
}

/** What an upload records on the distribution's artifact; the simple index is generated from it. */
export interface DistProperties {
  /** The project name as uploaded (not normalised). */
  name: string
  version: string
  filetype: 'bdist_wheel' | 'sdist'
  pythonVersion: string | undefined
  requiresPython: string | undefined
  metadataVersion: string
  summary: string | undefined
  /** sha256 of `{filename}.metadata` (wheels only). */
  metadataSha256: string | undefined
}

export function distProperties(a: Artifact): DistProperties | undefined {
  const p = a.properties.pypi
  return p && typeof p === 'object' ? (p as DistProperties) : undefined
}
