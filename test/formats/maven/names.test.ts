import { describe, expect, it } from 'vitest'
import { mavenPathProblem, parseMavenPath } from '../../../formats/maven/index.ts'

// Coordinates as Maven's model validator has them (DefaultModelValidator: ids of
// [A-Za-z0-9_\-.]+, versions without file-system metacharacters), laid out as the Maven 2
// repository layout (https://maven.apache.org/repositories/layout.html). An id or version with
// '..' in it, or one that is '.'/'..', is refused although Maven's regex alone would let `a..b` in.
describe('maven coordinates', () => {
  it('accepts the coordinates real repositories hold', () => {
    for (const p of [
      'org/apache/maven/maven-core/3.9.6/maven-core-3.9.6.jar',
      'com/google/guava/guava/33.0.0-jre/guava-33.0.0-jre.pom',
      'io/netty/netty-transport-native-epoll/4.1.100.Final/netty-transport-native-epoll-4.1.100.Final-linux-x86_64.jar',
      'org/scala-lang/scala3-library_3/3.3.1/scala3-library_3-3.3.1.jar',
      'com/example/my.lib/1.0+build.5/my.lib-1.0+build.5.jar',
      'com/example/lib/1.0-SNAPSHOT/maven-metadata.xml',
      'com/example/lib/maven-metadata.xml.sha1',
    ]) {
      expect(() => parseMavenPath(p), p).not.toThrow()
      expect(mavenPathProblem(p), p).toBeUndefined()
    }
  })

  it('refuses `..`, `.`, separators and metacharacters inside a coordinate', () => {
    for (const p of [
      'com/x/../1.0/..-1.0.jar',
      'com/x/./1.0/.-1.0.jar',
      'com/x/a..b/1.0/a..b-1.0.jar',
      'com/x/.hidden/1.0/.hidden-1.0.jar',
      'com/x/a/1..0/a-1..0.jar',
      'com/x/a/../a-...jar',
      'com/x/a/.1/a-.1.jar',
      'com.x/a/1.0/a-1.0.jar',
      'com/x:y/a/1.0/a-1.0.jar',
      'com/x/a b/1.0/a b-1.0.jar',
      'com/x/a/1.0*/a-1.0*.jar',
      'com/x/a/1.0/b-1.0.jar',
      'a/1.0/a-1.0.jar',
    ]) {
      expect(() => parseMavenPath(p), p).toThrow(/not a Maven 2 layout path/)
      expect(mavenPathProblem(p), p).toMatch(/not a Maven 2 layout path/)
    }
  })
})
