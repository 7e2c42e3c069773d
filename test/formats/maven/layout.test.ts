import { describe, expect, it } from 'vitest'
import { filePath, parseMavenPath } from '../../../formats/maven/index.ts'

describe('maven layout paths', () => {
  it('parses a release jar into coordinates', () => {
    const p = parseMavenPath('com/example/lib/1.0/lib-1.0.jar')
    expect(p.checksum).toBeUndefined()
    expect(p.target).toEqual({
      kind: 'file',
      coordinates: { groupId: 'com.example', artifactId: 'lib', baseVersion: '1.0', version: '1.0', classifier: '', extension: 'jar', snapshot: undefined },
    })
  })

  it('reads classifiers and multi-part extensions', () => {
    const sources = parseMavenPath('com/example/lib/1.0/lib-1.0-sources.jar').target
    expect(sources.kind === 'file' && [sources.coordinates.classifier, sources.coordinates.extension]).toEqual(['sources', 'jar'])
    const dist = parseMavenPath('org/x/tool/2.1/tool-2.1-bin.tar.gz').target
    expect(dist.kind === 'file' && [dist.coordinates.classifier, dist.coordinates.extension]).toEqual(['bin', 'tar.gz'])
    const sig = parseMavenPath('org/x/tool/2.1/tool-2.1.jar.asc').target
    expect(sig.kind === 'file' && [sig.coordinates.classifier, sig.coordinates.extension]).toEqual(['', 'jar.asc'])
  })

  it('reads a timestamped SNAPSHOT file name as a build of its -SNAPSHOT directory', () => {
    const t = parseMavenPath('com/example/lib/1.0-SNAPSHOT/lib-1.0-20261125.123456-3-tests.jar').target
    expect(t.kind).toBe('file')
    if (t.kind !== 'file') return
    expect(t.coordinates.baseVersion).toBe('1.0-SNAPSHOT')
    expect(t.coordinates.version).toBe('1.0-20261125.123456-3')
    expect(t.coordinates.snapshot).toEqual({ timestamp: '20261125.123456', buildNumber: 3 })
    expect(t.coordinates.classifier).toBe('tests')
  })

  it('accepts a non-unique SNAPSHOT file name', () => {
    const t = parseMavenPath('com/example/lib/1.0-SNAPSHOT/lib-1.0-SNAPSHOT.pom').target
    expect(t.kind === 'file' && t.coordinates.version).toBe('1.0-SNAPSHOT')
  })

  it('tells artifact-level from version-level metadata and strips checksum suffixes', () => {
    expect(parseMavenPath('com/example/lib/maven-metadata.xml').target).toEqual({ kind: 'artifact-metadata', groupId: 'com.example', artifactId: 'lib' })
    const v = parseMavenPath('com/example/lib/1.0-SNAPSHOT/maven-metadata.xml.sha512')
    expect(v.checksum).toBe('sha512')
    expect(v.path).toBe('com/example/lib/1.0-SNAPSHOT/maven-metadata.xml')
    expect(v.target).toEqual({ kind: 'version-metadata', groupId: 'com.example', artifactId: 'lib', baseVersion: '1.0-SNAPSHOT' })
    const s = parseMavenPath('com/example/lib/1.0/lib-1.0.jar.md5')
    expect([s.checksum, s.path]).toEqual(['md5', 'com/example/lib/1.0/lib-1.0.jar'])
  })

  it.each([
    ['file name of another artifact', 'com/example/lib/1.0/other-1.0.jar'],
    ['file name of another version', 'com/example/lib/1.0/lib-1.1.jar'],
    ['timestamp outside a SNAPSHOT directory', 'com/example/lib/1.0/lib-1.0-20261125.123456-3.jar'],
    ['no extension', 'com/example/lib/1.0/lib-1.0'],
    ['a dot inside a groupId segment (would alias com/example)', 'com.example/lib/1.0/lib-1.0.jar'],
    ['a parent segment as groupId', '../lib/1.0/lib-1.0.jar'],
    ['a shell metacharacter in the version', 'com/example/lib/1.0$x/lib-1.0$x.jar'],
    ['too few segments', 'lib/1.0/lib-1.0.jar'],
    ['metadata without a groupId', 'lib/maven-metadata.xml'],
  ])('refuses %s', (_why, path) => {
    expect(() => parseMavenPath(path)).toThrow(expect.objectContaining({ code: 'AK_INVALID_PATH' }))
  })

  it('builds the stored path back from coordinates', () => {
    const c = { groupId: 'org.acme.tools', artifactId: 'cli', baseVersion: '2.0-SNAPSHOT', version: '2.0-20260101.000000-1', classifier: 'linux', extension: 'tar.gz' }
    const path = filePath(c)
    expect(path).toBe('org/acme/tools/cli/2.0-SNAPSHOT/cli-2.0-20260101.000000-1-linux.tar.gz')
    const back = parseMavenPath(path).target
    expect(back.kind === 'file' && back.coordinates).toMatchObject(c)
  })
})
