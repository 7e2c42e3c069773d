import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { InvalidInputError } from '../../store/index.ts'
import { MAX_POM_NESTING } from './constants.ts'

/** A POM's own coordinates, inherited from <parent> where the POM leaves them out. */
export interface PomCoordinates {
  groupId: string | undefined
  artifactId: string | undefined
  version: string | undefined
  packaging: string | undefined
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  // Entities stay literal: a POM has no DTD (refused below), so nothing can expand.
  processEntities: false,
  parseTagValue: false,
  trimValues: true,
  maxNestedTags: MAX_POM_NESTING,
})

function text(node: unknown, field: string): string | undefined {
  if (node === undefined || node === null || node === '') return undefined
  if (typeof node !== 'string') throw new InvalidInputError(`POM element <${field}> must hold text`)
  return node
}

/**
 * Parses a POM (bounded by the caller) far enough to read its coordinates. Refuses DOCTYPE
 * declarations outright: Maven POMs never have one, and it is the door to entity expansion
 * bombs and external entities.
 */
export function parsePom(bytes: Buffer): PomCoordinates {
  const xml = bytes.toString('utf8').replace(/^\uFEFF/, '')
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) throw new InvalidInputError('POM must not contain a DOCTYPE or ENTITY declaration')
  const valid = XMLValidator.validate(xml)
  if (valid !== true) throw new InvalidInputError(`malformed POM: ${valid.err.msg} (line ${valid.err.line})`)
  let doc: Record<string, unknown>
  try {
    doc = parser.parse(xml) as Record<string, unknown>
  } catch (err) {
    throw new InvalidInputError(`malformed POM: ${(err as Error).message}`)
  }
  const project = doc.project
  if (typeof project !== 'object' || project === null || Array.isArray(project)) {
    throw new InvalidInputError('POM root element must be a single <project>')
  }
  const p = project as Record<string, unknown>
  const parent = typeof p.parent === 'object' && p.parent !== null ? (p.parent as Record<string, unknown>) : {}
  return {
    groupId: text(p.groupId, 'groupId') ?? text(parent.groupId, 'parent/groupId'),
    artifactId: text(p.artifactId, 'artifactId'),
    version: text(p.version, 'version') ?? text(parent.version, 'parent/version'),
    packaging: text(p.packaging, 'packaging'),
  }
}

/**
 * Checks that a POM describes the coordinates of the path it is deployed to. A value that is
 * still a property expression (${revision}) cannot be checked without the build and is let through.
 */
export function checkPomMatches(pom: PomCoordinates, expected: { groupId: string; artifactId: string; baseVersion: string }): void {
  const check = (field: string, actual: string | undefined, want: string) => {
    if (actual === undefined) throw new InvalidInputError(`POM has no ${field}`)
    if (actual.includes('${')) return
    if (actual !== want) throw new InvalidInputError(`POM ${field} '${actual}' does not match the path's '${want}'`)
  }
  check('groupId', pom.groupId, expected.groupId)
  check('artifactId', pom.artifactId, expected.artifactId)
  check('version', pom.version, expected.baseVersion)
}
