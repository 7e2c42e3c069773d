import { InvalidPathError } from '../../store/index.ts'
import { CHECKSUM_ALGORITHMS, METADATA_FILE, SNAPSHOT_SUFFIX, type ChecksumAlgorithm } from './constants.ts'

/*
 * The Maven 2 repository layout:
 *   {groupId with dots as slashes}/{artifactId}/{version}/{artifactId}-{version}[-{classifier}].{extension}
 * with maven-metadata.xml beside the versions (artifact level) and inside a SNAPSHOT version
 * directory (version level), and .sha1/.md5/.sha256/.sha512 sidecars beside every file.
 * A SNAPSHOT file is stored under its timestamped version: 1.0-SNAPSHOT/lib-1.0-20261125.123456-3.jar.
 * https://maven.apache.org/repositories/layout.html
 */

/**
 * A groupId segment or artifactId: Maven's id rule ([A-Za-z0-9_.-]+, DefaultModelValidator's
 * ID_REGEX); group segments have no dot (it separates them). An id or version never holds '..'
 * nor starts with '.': Maven would accept `a..b`, but no coordinate needs it and a layout path
 * built from it is one step from a traversal.
 */
const GROUP_SEGMENT = /^[A-Za-z0-9_-]+$/
const ARTIFACT_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/
/** Versions: no path, shell or URL metacharacters. */
const VERSION = /^[A-Za-z0-9_][A-Za-z0-9_.+~-]*$/
const CLASSIFIER = /^[A-Za-z0-9_-]+$/
const EXTENSION = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/
/** yyyyMMdd.HHmmss-buildNumber, the unique SNAPSHOT version suffix. */
const TIMESTAMPED = /^(\d{8}\.\d{6})-(\d{1,9})$/

export interface SnapshotBuild {
  /** yyyyMMdd.HHmmss (UTC) */
  timestamp: string
  buildNumber: number
}

/** What a file's path says about it. */
export interface FileCoordinates {
  groupId: string
  artifactId: string
  /** The directory version: 1.0 or 1.0-SNAPSHOT. */
  baseVersion: string
  /** The version in the file name: 1.0, 1.0-SNAPSHOT or 1.0-20261125.123456-3. */
  version: string
  /** '' when none. */
  classifier: string
  extension: string
  /** Present for a timestamped SNAPSHOT file. */
  snapshot?: SnapshotBuild | undefined
}

export type MavenTarget =
  | { kind: 'artifact-metadata'; groupId: string; artifactId: string }
  | { kind: 'version-metadata'; groupId: string; artifactId: string; baseVersion: string }
  | { kind: 'file'; coordinates: FileCoordinates }

export interface MavenPath {
  /** The stored (or generated) file the path names, sidecar suffix removed. */
  path: string
  target: MavenTarget
  /** Set when the path names a checksum sidecar of `path`. */
  checksum?: ChecksumAlgorithm | undefined
}

export function isSnapshotVersion(version: string): boolean {
  return version.endsWith(SNAPSHOT_SUFFIX)
}

function bad(path: string, why: string): never {
  throw new InvalidPathError(`'${path}' is not a Maven 2 layout path: ${why}`)
}

function checkGroup(segments: string[], path: string): string {
  if (segments.length === 0) bad(path, 'no groupId')
  for (const s of segments) if (!GROUP_SEGMENT.test(s)) bad(path, `invalid groupId segment '${s}'`)
  return segments.join('.')
}

function checkArtifactId(a: string, path: string): string {
  if (!ARTIFACT_ID.test(a) || a.includes('..')) bad(path, `invalid artifactId '${a}'`)
  return a
}

function checkVersion(v: string, path: string): string {
  if (!VERSION.test(v) || v.includes('..')) bad(path, `invalid version '${v}'`)
  return v
}

/**
 * Splits `artifactId-version[-classifier].extension` given the directory's version. For a
 * SNAPSHOT directory the file may carry the timestamped version or the literal -SNAPSHOT one.
 */
export function parseFileName(fileName: string, artifactId: string, baseVersion: string, path = fileName) {
  const prefix = `${artifactId}-`
  if (!fileName.startsWith(prefix)) bad(path, `file name must start with '${prefix}'`)
  let rest = fileName.slice(prefix.length)
  let version: string
  let snapshot: SnapshotBuild | undefined
  if (rest.startsWith(baseVersion) && /^[.-]/.test(rest.slice(baseVersion.length))) {
    version = baseVersion
  } else if (isSnapshotVersion(baseVersion)) {
    const stem = `${baseVersion.slice(0, -SNAPSHOT_SUFFIX.length)}-`
    const m = rest.startsWith(stem) ? /^(\d{8}\.\d{6}-\d{1,9})(?=[.-])/.exec(rest.slice(stem.length)) : null
    if (!m) bad(path, `file name must carry version '${baseVersion}' or a timestamped form of it`)
    const t = TIMESTAMPED.exec(m[1] as string) as RegExpExecArray
    version = `${stem}${m[1]}`
    snapshot = { timestamp: t[1] as string, buildNumber: Number(t[2]) }
  } else {
    bad(path, `file name must carry version '${baseVersion}'`)
  }
  rest = rest.slice(version.length)
  if (!snapshot && /^-\d{8}\.\d{6}-\d+[.-]/.test(rest)) bad(path, `a timestamped SNAPSHOT file belongs in a '-SNAPSHOT' directory`)
  let classifier = ''
  let extension: string
  if (rest.startsWith('-')) {
    const dot = rest.indexOf('.')
    if (dot < 0) bad(path, 'no extension')
    classifier = rest.slice(1, dot)
    extension = rest.slice(dot + 1)
    if (!CLASSIFIER.test(classifier)) bad(path, `invalid classifier '${classifier}'`)
  } else {
    extension = rest.slice(1)
  }
  if (!EXTENSION.test(extension)) bad(path, `invalid extension '${extension}'`)
  return { version, classifier, extension, snapshot }
}

/** Parses a decoded path inside a Maven repository (no leading slash). */
export function parseMavenPath(fullPath: string): MavenPath {
  const segments = fullPath.split('/')
  let fileName = segments[segments.length - 1] as string
  let checksum: ChecksumAlgorithm | undefined
  for (const alg of CHECKSUM_ALGORITHMS) {
    if (fileName.endsWith(`.${alg}`)) {
      checksum = alg
      fileName = fileName.slice(0, -alg.length - 1)
      break
    }
  }
  const dirs = segments.slice(0, -1)
  const path = [...dirs, fileName].join('/')
  if (fileName === METADATA_FILE) {
    const last = dirs[dirs.length - 1]
    if (dirs.length >= 3 && last !== undefined && isSnapshotVersion(last)) {
      const baseVersion = checkVersion(last, path)
      const artifactId = checkArtifactId(dirs[dirs.length - 2] as string, path)
      return { path, checksum, target: { kind: 'version-metadata', groupId: checkGroup(dirs.slice(0, -2), path), artifactId, baseVersion } }
    }
    if (dirs.length < 2) bad(path, 'metadata needs a groupId and an artifactId')
    const artifactId = checkArtifactId(dirs[dirs.length - 1] as string, path)
    return { path, checksum, target: { kind: 'artifact-metadata', groupId: checkGroup(dirs.slice(0, -1), path), artifactId } }
  }
  if (dirs.length < 3) bad(path, 'expected groupId/artifactId/version/file')
  const baseVersion = checkVersion(dirs[dirs.length - 1] as string, path)
  const artifactId = checkArtifactId(dirs[dirs.length - 2] as string, path)
  const groupId = checkGroup(dirs.slice(0, -2), path)
  const parsed = parseFileName(fileName, artifactId, baseVersion, path)
  return { path, checksum, target: { kind: 'file', coordinates: { groupId, artifactId, baseVersion, ...parsed } } }
}

/** The directory of an artifact: com/example/lib. */
export function artifactDir(groupId: string, artifactId: string): string {
  return `${groupId.split('.').join('/')}/${artifactId}`
}

/** The stored path of a file with these coordinates. */
export function filePath(c: Omit<FileCoordinates, 'snapshot'>): string {
  const classifier = c.classifier === '' ? '' : `-${c.classifier}`
  return `${artifactDir(c.groupId, c.artifactId)}/${c.baseVersion}/${c.artifactId}-${c.version}${classifier}.${c.extension}`
}
