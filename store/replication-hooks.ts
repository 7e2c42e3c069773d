import type { Artifact } from './artifacts.ts'

/*
 * How formats keep their own index tables (npm versions and dist-tags, OCI manifests and tags…)
 * in step with replicated changes. store/ declares it; formats implement it; node/ hands the
 * formats' hooks to the mesh's event applier (mesh/ and formats/ never import each other).
 *
 * Every hook runs inside the SQLite transaction that applies the replicated events, so index
 * rows and artifact rows change together, exactly as in a local publish. Hooks must be
 * synchronous, idempotent (the same change may be announced twice) and must not append events
 * (the change is someone else's; it is already in the log).
 */

/** A replicated artifact change, after the applier recomputed the path's winner. */
export interface ReplicatedArtifactChange {
  repo: string
  format: string
  path: string
  /** The artifact row now in place (its blob may still be remote), undefined when the path is gone. */
  artifact: Artifact | undefined
}

/**
 * A mutable pointer: a small named value of a repository that the last writer (by HLC) sets,
 * e.g. an npm dist-tag (`dist-tag/<package>/<tag>` → "1.2.3") or a deprecation message.
 * Names are chosen by the format and unique within the repository.
 */
export interface ReplicatedPointerChange {
  repo: string
  format: string
  name: string
  /** The winning value, undefined when the pointer was removed (or its latest event is a removal). */
  value: unknown
}

export interface FormatReplicationHooks {
  format: string
  /**
   * Paths whose latest write wins even in an immutable repository (OCI tags, maven-metadata.xml…).
   * Without it every path of an immutable repository is immutable.
   */
  isMutablePath?(path: string): boolean
  /**
   * Why `path` is not a path this format writes (a name its clients refuse, a layout it never
   * uses), or undefined when it is one. Peers are hostile input like any client: the applier
   * leaves a refused path unmaterialised (its events stay in the log) and reports it. Paths that
   * fail the store's own rules (validateArtifactPath) never reach this hook.
   */
  pathProblem?(path: string): string | undefined
  /** The same for a replicated pointer name (an npm dist-tag's package and tag, say). */
  pointerProblem?(name: string): string | undefined
  /**
   * The package an artifact belongs to, read from the properties the format recorded at upload
   * (npm's name, Maven's groupId:artifactId…): replication filters' `packages` globs match it, and
   * search and policies will. Undefined (or no hook): the globs match the artifact's path.
   */
  packageName?(properties: Record<string, unknown>): string | undefined
  /** A replicated event changed (repo, path) of a repository of this format. */
  artifactChanged?(change: ReplicatedArtifactChange): void
  /** A replicated pointer of a repository of this format changed. */
  pointerChanged?(change: ReplicatedPointerChange): void
}
