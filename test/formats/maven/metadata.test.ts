import { XMLParser } from 'fast-xml-parser'
import { describe, expect, it } from 'vitest'
import { artifactMetadata, formatTimestamp, renderArtifactMetadata, renderVersionMetadata, versionMetadata } from '../../../formats/maven/index.ts'

const parser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  isArray: (name, jpath) => jpath === 'metadata.versioning.versions.version' || name === 'snapshotVersion',
})
const T0 = Date.UTC(2026, 10, 25, 12, 34, 56)

describe('generated maven-metadata.xml', () => {
  it('lists versions in Maven order with latest and release', () => {
    const m = artifactMetadata('com.example', 'lib', [
      { version: '1.10', updatedAt: T0 },
      { version: '1.9', updatedAt: T0 + 1000 },
      { version: '2.0-SNAPSHOT', updatedAt: T0 + 2000 },
    ])
    expect(m).toBeDefined()
    const doc = parser.parse(renderArtifactMetadata(m!))
    expect(doc.metadata['@_modelVersion']).toBe('1.1.0')
    expect(doc.metadata.groupId).toBe('com.example')
    expect(doc.metadata.versioning.versions.version).toEqual(['1.9', '1.10', '2.0-SNAPSHOT'])
    expect(doc.metadata.versioning.latest).toBe('2.0-SNAPSHOT')
    expect(doc.metadata.versioning.release).toBe('1.10')
    expect(String(doc.metadata.versioning.lastUpdated)).toBe(formatTimestamp(T0 + 2000))
  })

  it('merges the versions of several repositories into one list (virtual repositories)', () => {
    const m = artifactMetadata('g', 'a', [
      { version: '1.0', updatedAt: T0 },
      { version: '2.0', updatedAt: T0 },
      { version: '1.0', updatedAt: T0 + 5000 },
    ])
    expect(m?.versions).toEqual(['1.0', '2.0'])
    expect(m?.release).toBe('2.0')
    expect(m?.lastUpdated).toBe(formatTimestamp(T0 + 5000))
  })

  it('omits release when only SNAPSHOTs exist, and is undefined when nothing is stored', () => {
    expect(artifactMetadata('g', 'a', [{ version: '1.0-SNAPSHOT', updatedAt: T0 }])?.release).toBeUndefined()
    expect(artifactMetadata('g', 'a', [])).toBeUndefined()
  })

  it('names the newest SNAPSHOT build and the newest file per classifier and extension', () => {
    const files = [
      { classifier: '', extension: 'jar', version: '1.0-20261125.120000-1', snapshot: { timestamp: '20261125.120000', buildNumber: 1 }, updatedAt: T0 },
      { classifier: '', extension: 'pom', version: '1.0-20261125.120000-1', snapshot: { timestamp: '20261125.120000', buildNumber: 1 }, updatedAt: T0 },
      { classifier: '', extension: 'jar', version: '1.0-20261125.130000-2', snapshot: { timestamp: '20261125.130000', buildNumber: 2 }, updatedAt: T0 + 1000 },
      { classifier: 'sources', extension: 'jar', version: '1.0-20261125.120000-1', snapshot: { timestamp: '20261125.120000', buildNumber: 1 }, updatedAt: T0 },
    ]
    const m = versionMetadata('com.example', 'lib', '1.0-SNAPSHOT', files)
    const doc = parser.parse(renderVersionMetadata(m!))
    expect(doc.metadata.version).toBe('1.0-SNAPSHOT')
    expect(doc.metadata.versioning.snapshot).toEqual({ timestamp: '20261125.130000', buildNumber: '2' })
    const sv = doc.metadata.versioning.snapshotVersions.snapshotVersion as Record<string, unknown>[]
    expect(sv.map((s) => [s.classifier ?? '', s.extension, s.value])).toEqual([
      ['', 'jar', '1.0-20261125.130000-2'],
      ['sources', 'jar', '1.0-20261125.120000-1'],
      ['', 'pom', '1.0-20261125.120000-1'],
    ])
  })

  it('renders the timestamp text exactly (not as a number)', () => {
    const m = versionMetadata('g', 'a', '1.0-SNAPSHOT', [
      { classifier: '', extension: 'jar', version: '1.0-20261125.130000-2', snapshot: { timestamp: '20261125.130000', buildNumber: 2 }, updatedAt: T0 },
    ])
    expect(renderVersionMetadata(m!)).toContain('<timestamp>20261125.130000</timestamp>')
    expect(renderVersionMetadata(m!)).toContain('<buildNumber>2</buildNumber>')
  })

  it('formats lastUpdated as yyyyMMddHHmmss in UTC', () => {
    expect(formatTimestamp(T0)).toBe('20261125123456')
  })
})
