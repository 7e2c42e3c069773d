import type { FormatReplicationHooks } from '../../store/index.ts'
import { propertyText } from '../core/index.ts'
import { MAVEN_FORMAT, METADATA_FILE } from './constants.ts'
import { parseMavenPath } from './layout.ts'

/*
 * Maven under replication. Its index is the artifacts themselves (maven-metadata.xml is generated
 * from them at read time), so no table needs rebuilding. A maven-metadata.xml or one of its
 * checksums, should one ever be stored as an artifact, is a mutable path: it describes the
 * versions beside it and the latest write by HLC wins, even in an immutable repository.
 */

const METADATA = new RegExp(`(^|/)${METADATA_FILE.replace(/[.]/g, '\\.')}(\\.(md5|sha1|sha256|sha512))?$`)

export function isMavenMutablePath(path: string): boolean {
  return METADATA.test(path)
}

/** Why a replicated path is no Maven 2 layout path (the coordinates a deploy would have refused). */
export function mavenPathProblem(path: string): string | undefined {
  try {
    parseMavenPath(path)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

/** groupId:artifactId, as deploy recorded them. */
function mavenPackageName(p: Record<string, unknown>): string | undefined {
  const group = propertyText(p, 'maven', 'groupId')
  const artifact = propertyText(p, 'maven', 'artifactId')
  return group && artifact ? `${group}:${artifact}` : undefined
}

export function mavenReplicationHooks(): FormatReplicationHooks {
  return { format: MAVEN_FORMAT, isMutablePath: isMavenMutablePath, pathProblem: mavenPathProblem, packageName: mavenPackageName }
}
