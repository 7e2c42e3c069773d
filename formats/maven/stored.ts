import type { Artifact, ArtifactStore } from '../../store/index.ts'
import type { FileCoordinates } from './layout.ts'
import { artifactDir, isSnapshotVersion, parseMavenPath } from './layout.ts'
import type { SnapshotFileEntry, VersionEntry } from './metadata.ts'

/*
 * Reads of one repository's stored Maven files. The coordinates come from each stored path
 * (the layout is the index): the version directories below an artifact and the files inside
 * one are found with the artifact store's directory listing, an index range scan.
 */

/** The coordinates of a stored file, or undefined when the path is not a Maven file of this artifact. */
function coordinatesOf(a: Artifact): FileCoordinates | undefined {
  try {
    const parsed = parseMavenPath(a.path)
    return parsed.target.kind === 'file' && parsed.checksum === undefined ? parsed.target.coordinates : undefined
  } catch {
    return undefined
  }
}

function filesOf(artifacts: ArtifactStore, repo: string, groupId: string, artifactId: string, version: string) {
  const out: { artifact: Artifact; coordinates: FileCoordinates }[] = []
  for (const artifact of artifacts.list(repo, `${artifactDir(groupId, artifactId)}/${version}`).files) {
    const c = coordinatesOf(artifact)
    if (c && c.groupId === groupId && c.artifactId === artifactId && c.baseVersion === version) out.push({ artifact, coordinates: c })
  }
  return out
}

/** Every version of groupId:artifactId stored in `repo`, with its newest file's time. */
export function storedVersions(artifacts: ArtifactStore, repo: string, groupId: string, artifactId: string): VersionEntry[] {
  const entries: VersionEntry[] = []
  for (const version of artifacts.list(repo, artifactDir(groupId, artifactId)).dirs) {
    const files = filesOf(artifacts, repo, groupId, artifactId, version)
    if (files.length > 0) entries.push({ version, updatedAt: Math.max(...files.map((f) => f.artifact.updatedAt)) })
  }
  return entries
}

/** The files of one SNAPSHOT version stored in `repo`. */
export function storedSnapshotFiles(
  artifacts: ArtifactStore,
  repo: string,
  groupId: string,
  artifactId: string,
  baseVersion: string,
): SnapshotFileEntry[] {
  if (!isSnapshotVersion(baseVersion)) return []
  return filesOf(artifacts, repo, groupId, artifactId, baseVersion).map(({ artifact, coordinates: c }) => ({
    classifier: c.classifier,
    extension: c.extension,
    version: c.version,
    snapshot: c.snapshot,
    updatedAt: artifact.updatedAt,
  }))
}

/**
 * The stored file a request names: the exact path, or, for lib-1.0-SNAPSHOT.jar in a SNAPSHOT
 * directory, the newest timestamped build with the same classifier and extension.
 */
export function findFile(artifacts: ArtifactStore, repo: string, path: string, c: FileCoordinates): Artifact | undefined {
  const exact = artifacts.get(repo, path)
  if (exact || !isSnapshotVersion(c.baseVersion) || c.version !== c.baseVersion) return exact
  let best: { artifact: Artifact; coordinates: FileCoordinates } | undefined
  for (const f of filesOf(artifacts, repo, c.groupId, c.artifactId, c.baseVersion)) {
    const s = f.coordinates.snapshot
    if (!s || f.coordinates.classifier !== c.classifier || f.coordinates.extension !== c.extension) continue
    const b = best?.coordinates.snapshot
    if (!b || s.timestamp > b.timestamp || (s.timestamp === b.timestamp && s.buildNumber > b.buildNumber)) best = f
  }
  return best?.artifact
}
