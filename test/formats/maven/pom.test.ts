import { describe, expect, it } from 'vitest'
import { checkPomMatches, parsePom } from '../../../formats/maven/index.ts'

const pom = (body: string) => Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">${body}</project>`)
const want = { groupId: 'com.example', artifactId: 'lib', baseVersion: '1.0' }

describe('POM checks', () => {
  it('reads coordinates and accepts a POM that matches its path', () => {
    const p = parsePom(pom('<modelVersion>4.0.0</modelVersion><groupId>com.example</groupId><artifactId>lib</artifactId><version>1.0</version>'))
    expect(p).toMatchObject({ groupId: 'com.example', artifactId: 'lib', version: '1.0' })
    expect(() => checkPomMatches(p, want)).not.toThrow()
  })

  it('inherits groupId and version from <parent>', () => {
    const p = parsePom(pom('<parent><groupId>com.example</groupId><artifactId>parent</artifactId><version>1.0</version></parent><artifactId>lib</artifactId>'))
    expect(() => checkPomMatches(p, want)).not.toThrow()
  })

  it('refuses a POM whose coordinates differ from its path', () => {
    const p = parsePom(pom('<groupId>com.evil</groupId><artifactId>lib</artifactId><version>1.0</version>'))
    expect(() => checkPomMatches(p, want)).toThrow(/groupId 'com.evil' does not match/)
  })

  it('lets an unresolved ${revision} through', () => {
    const p = parsePom(pom('<groupId>com.example</groupId><artifactId>lib</artifactId><version>${revision}</version>'))
    expect(() => checkPomMatches(p, want)).not.toThrow()
  })

  it.each([
    ['malformed XML', '<project><groupId>x</project>'],
    ['not a project', '<?xml version="1.0"?><settings/>'],
    ['an entity expansion bomb', '<?xml version="1.0"?><!DOCTYPE project [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><project><groupId>&b;</groupId></project>'],
    ['an external entity', '<?xml version="1.0"?><!DOCTYPE project [<!ENTITY x SYSTEM "file:///etc/passwd">]><project><groupId>&x;</groupId></project>'],
  ])('refuses %s with AK_INVALID_INPUT', (_why, xml) => {
    expect(() => parsePom(Buffer.from(xml))).toThrow(expect.objectContaining({ code: 'AK_INVALID_INPUT' }))
  })

  it('refuses nesting deeper than the parser bound', () => {
    const deep = '<a>'.repeat(500) + '</a>'.repeat(500)
    expect(() => parsePom(pom(deep))).toThrow(expect.objectContaining({ code: 'AK_INVALID_INPUT' }))
  })
})
