import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { ADMIN_PASSWORD, startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { startCountingProxy, type CountingProxy } from '../../formats/remote/index.ts'
import { createRepo, mavenEnv, PLUGINS, pomFor, removeWorkDirs, seedHasPlugins, workDir, writeLibrary } from '../maven/support.ts'

/*
 * The real Maven client through a remote repository: an UPSTREAM node process with a local Maven
 * repository (a release and a SNAPSHOT deployed with mvn deploy), a counting proxy in front of it,
 * and an EDGE node process whose remote repository points at the upstream repository through the
 * proxy. A project depending on both resolves them only through the edge, with
 * checksumPolicy=fail. Offline like test/e2e/maven (plugins from the seeded ~/.m2).
 */

const SERVER = 'ak'
const credentials = [{ id: SERVER, username: 'admin', password: ADMIN_PASSWORD }]
const haveMvn = requireClient('mvn', 'apt-get install -y maven', ['-v'])
const haveSeed = haveMvn && seedHasPlugins()
const MVN_TIMEOUT = 300_000

const release = { groupId: 'akt.remote', artifactId: 'greeter', version: '1.0' }
const snapshot = { groupId: 'akt.snap', artifactId: 'snapper', version: '2.0-SNAPSHOT' }

/** A project depending on the release and the SNAPSHOT, resolving them only through `url`. */
function writeTwoDepConsumer(dir: string, url: string): void {
  mkdirSync(join(dir, 'src/main/java/akt/app'), { recursive: true })
  writeFileSync(
    join(dir, 'src/main/java/akt/app/Main.java'),
    'package akt.app;\npublic class Main { public static void main(String[] a) { System.out.println(akt.remote.Greeter.greet() + " / " + akt.snap.Greeter.greet()); } }\n',
  )
  const dep = (c: typeof release) => `<dependency><groupId>${c.groupId}</groupId><artifactId>${c.artifactId}</artifactId><version>${c.version}</version></dependency>`
  const plugins = Object.entries(PLUGINS)
    .map(([a, v]) => `<plugin><artifactId>${a}</artifactId><version>${v}</version>${a === 'maven-surefire-plugin' ? '<executions><execution><id>default-test</id><phase>none</phase></execution></executions>' : ''}</plugin>`)
    .join('')
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>akt.app</groupId><artifactId>app</artifactId><version>1.0</version>
  <properties><maven.compiler.release>17</maven.compiler.release><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>
  <dependencies>${dep(release)}${dep(snapshot)}</dependencies>
  <repositories><repository><id>${SERVER}</id><url>${url}</url>
    <releases><checksumPolicy>fail</checksumPolicy></releases>
    <snapshots><enabled>true</enabled><updatePolicy>always</updatePolicy><checksumPolicy>fail</checksumPolicy></snapshots>
  </repository></repositories>
  <build><pluginManagement><plugins>${plugins}</plugins></pluginManagement></build>
</project>
`,
  )
}

describe.runIf(haveSeed)('mvn through a Maven remote repository', () => {
  let upstream: NodeProcess
  let edge: NodeProcess
  let proxy: CountingProxy
  let remoteUrl: string

  const run = (cwd: string, localRepo: string): string => {
    const jar = (c: typeof release, file: string) => join(localRepo, ...c.groupId.split('.'), c.artifactId, c.version, file)
    const cp = [join(cwd, 'target/classes'), jar(release, 'greeter-1.0.jar'), jar(snapshot, 'snapper-2.0-SNAPSHOT.jar')].join(':')
    return execFileSync('java', ['-cp', cp, 'akt.app.Main'], { timeout: 60_000 }).toString().trim()
  }

  beforeAll(async () => {
    upstream = await startNodeProcess()
    proxy = await startCountingProxy(upstream.url)
    edge = await startNodeProcess()
    await createRepo(upstream, { key: 'libs' })
    await createRepo(edge, {
      key: 'maven-remote',
      type: 'remote',
      public: true,
      upstream: { url: `${proxy.url}/maven/libs`, username: 'admin', password: ADMIN_PASSWORD },
      // Every metadata read revalidates, so the tests see conditional requests.
      settings: { metadataTtlMs: 0 },
    })
    remoteUrl = `${edge.url}/maven/maven-remote`

    const producer = mavenEnv(credentials)
    const url = `${upstream.url}/maven/libs`
    const rel = workDir('ak-mvn-remote-rel-')
    writeLibrary(rel, release, 'release through the edge', url, SERVER)
    const snap = workDir('ak-mvn-remote-snap-')
    writeLibrary(snap, snapshot, 'snapshot through the edge', url, SERVER)
    for (const dir of [rel, snap]) {
      const deployed = await producer.mvn(dir, ['deploy'])
      expect(deployed.output, deployed.output.slice(-3000)).toContain('BUILD SUCCESS')
    }
  }, 2 * MVN_TIMEOUT)

  afterAll(async () => {
    await edge?.stop()
    await upstream?.stop()
    await proxy?.close()
    removeWorkDirs()
  })

  it('builds a project whose release and SNAPSHOT dependencies resolve only through the edge, sidecars verified', { timeout: MVN_TIMEOUT }, async () => {
    const consumer = mavenEnv(credentials)
    const app = workDir('ak-mvn-remote-app-')
    writeTwoDepConsumer(app, remoteUrl)
    const built = await consumer.mvn(app, ['compile'])
    expect(built.output, `${built.output.slice(-4000)}\n${edge.output().slice(-2000)}`).toContain('BUILD SUCCESS')
    expect(built.output).toContain(`Downloaded from ${SERVER}: ${remoteUrl}/akt/remote/greeter/1.0/greeter-1.0.jar`)
    expect(built.output).toMatch(/Downloaded from ak: .*\/akt\/snap\/snapper\/2\.0-SNAPSHOT\/snapper-2\.0-\d{8}\.\d{6}-1\.jar/)
    expect(built.output).not.toMatch(/checksum (validation )?failed/i)
    expect(existsSync(join(consumer.localRepo, 'akt/remote/greeter/1.0/greeter-1.0.jar.sha1'))).toBe(true)
    expect(run(app, consumer.localRepo)).toBe('release through the edge / snapshot through the edge')
    // One upstream request per file; sidecars never went upstream (computed from the cached bytes).
    expect(proxy.count('/akt/remote/greeter/1.0/greeter-1.0.jar')).toBe(1)
    expect(proxy.count('/akt/remote/greeter/1.0/greeter-1.0.jar.sha1')).toBe(0)
  })

  it('serves a cached release file as a HIT, its sidecars from the cached bytes, with no upstream request', async () => {
    const before = proxy.seen.length
    const jar = await fetch(`${remoteUrl}/akt/remote/greeter/1.0/greeter-1.0.jar`)
    expect(jar.status).toBe(200)
    expect(jar.headers.get('x-ak-cache')).toBe('HIT')
    const bytes = Buffer.from(await jar.arrayBuffer())
    const sha1 = await (await fetch(`${remoteUrl}/akt/remote/greeter/1.0/greeter-1.0.jar.sha1`)).text()
    const upstreamSha1 = await (await fetch(`${upstream.url}/maven/libs/akt/remote/greeter/1.0/greeter-1.0.jar.sha1`, { headers: { authorization: upstream.adminAuth } })).text()
    expect(sha1.trim()).toBe(upstreamSha1.trim())
    const upstreamJar = Buffer.from(await (await fetch(`${upstream.url}/maven/libs/akt/remote/greeter/1.0/greeter-1.0.jar`, { headers: { authorization: upstream.adminAuth } })).arrayBuffer())
    expect(bytes.equals(upstreamJar)).toBe(true)
    expect(proxy.seen.slice(before).map((s) => s.url)).toEqual([])
  })

  it('revalidates maven-metadata.xml with a conditional request, and its sidecar matches the served document', async () => {
    const path = '/akt/snap/snapper/2.0-SNAPSHOT/maven-metadata.xml'
    const first = await fetch(`${remoteUrl}${path}`)
    expect(first.status).toBe(200)
    const xml = await first.text()
    expect(xml).toMatch(/<buildNumber>1<\/buildNumber>/)
    const second = await fetch(`${remoteUrl}${path}`)
    expect(second.headers.get('x-ak-cache')).toBe('REVALIDATED')
    expect(await second.text()).toBe(xml)
    const seen = proxy.seen.filter((s) => s.url === `/maven/libs${path}`)
    const last = seen[seen.length - 1]
    expect(last?.headers['if-none-match'] ?? last?.headers['if-modified-since']).toBeTruthy()
    expect(last?.status).toBe(304)
    const { createHash } = await import('node:crypto')
    const sha1 = await (await fetch(`${remoteUrl}${path}.sha1`)).text()
    expect(sha1).toBe(createHash('sha1').update(xml).digest('hex'))
  })

  it('remembers an upstream 404 for a while and refuses deploys to the remote repository', async () => {
    const missing = `${remoteUrl}/akt/remote/greeter/9.9/greeter-9.9.pom`
    expect((await fetch(missing)).status).toBe(404)
    expect((await fetch(missing)).status).toBe(404)
    expect(proxy.count('/akt/remote/greeter/9.9/greeter-9.9.pom')).toBe(1)
    const put = await fetch(`${remoteUrl}/akt/remote/greeter/1.1/greeter-1.1.pom`, { method: 'PUT', headers: { authorization: edge.adminAuth }, body: 'x' })
    expect(put.status).toBe(400)
  })

  it('a virtual repository (local + remote) builds through both and merges the versions of maven-metadata.xml', { timeout: MVN_TIMEOUT }, async () => {
    await createRepo(edge, { key: 'edge-libs', public: true })
    await createRepo(edge, { key: 'maven-all', type: 'virtual', public: true, settings: { members: ['edge-libs', 'maven-remote'], defaultDeployRepo: 'edge-libs' } })
    const put = await fetch(`${edge.url}/maven/edge-libs/akt/remote/greeter/1.5/greeter-1.5.pom`, {
      method: 'PUT',
      headers: { authorization: edge.adminAuth },
      body: pomFor('akt.remote', 'greeter', '1.5'),
    })
    expect(put.status).toBe(201)
    const xml = await (await fetch(`${edge.url}/maven/maven-all/akt/remote/greeter/maven-metadata.xml`)).text()
    expect(xml).toMatch(/<versions>\s*<version>1\.0<\/version>\s*<version>1\.5<\/version>\s*<\/versions>/)
    expect(xml).toMatch(/<release>1\.5<\/release>/)
    const { createHash } = await import('node:crypto')
    expect(await (await fetch(`${edge.url}/maven/maven-all/akt/remote/greeter/maven-metadata.xml.sha1`)).text()).toBe(createHash('sha1').update(xml).digest('hex'))
    // A file only the local member has, and one only the remote member has.
    expect((await fetch(`${edge.url}/maven/maven-all/akt/remote/greeter/1.5/greeter-1.5.pom`)).status).toBe(200)
    expect((await fetch(`${edge.url}/maven/maven-all/akt/remote/greeter/7.0/greeter-7.0.pom`)).status).toBe(404)

    const consumer = mavenEnv(credentials)
    const app = workDir('ak-mvn-remote-virtual-')
    writeTwoDepConsumer(app, `${edge.url}/maven/maven-all`)
    const built = await consumer.mvn(app, ['compile'])
    expect(built.output, built.output.slice(-4000)).toContain('BUILD SUCCESS')
    expect(run(app, consumer.localRepo)).toBe('release through the edge / snapshot through the edge')
  })

  it('with the upstream stopped, a fresh build still resolves from the cache and metadata is served stale with a warning', { timeout: MVN_TIMEOUT }, async () => {
    await upstream.stop()
    const meta = await fetch(`${remoteUrl}/akt/snap/snapper/2.0-SNAPSHOT/maven-metadata.xml`)
    expect(meta.status).toBe(200)
    expect(meta.headers.get('x-ak-cache')).toBe('STALE')
    expect(meta.headers.get('warning')).toBe('110 - "Response is Stale"')
    await meta.text()

    const consumer = mavenEnv(credentials)
    const app = workDir('ak-mvn-remote-offline-')
    writeTwoDepConsumer(app, remoteUrl)
    const built = await consumer.mvn(app, ['compile'])
    expect(built.output, built.output.slice(-4000)).toContain('BUILD SUCCESS')
    expect(run(app, consumer.localRepo)).toBe('release through the edge / snapshot through the edge')

    // A file never fetched is an upstream failure (502), not a 404.
    const never = await fetch(`${remoteUrl}/akt/remote/greeter/3.0/greeter-3.0.jar`)
    expect(never.status).toBe(502)
    expect(await never.text()).toMatch(/AK_UPSTREAM_UNAVAILABLE/)
  })
})
