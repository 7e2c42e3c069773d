import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient, REQUIRE_CLIENTS } from '../../helpers/clients.ts'
import { ADMIN_PASSWORD, startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { createRepo, mavenEnv, removeWorkDirs, seedHasPlugins, SEED_REPO, workDir, writeConsumer, writeLibrary } from './support.ts'

/*
 * The real Maven client (mvn 3.8.7, wagon HTTP transport) against a real node process:
 * `mvn deploy` of a release and of a SNAPSHOT (twice: build numbers advance) with credentials
 * from settings.xml <servers>, a build of another project that resolves the deployed jar only
 * through the node with checksumPolicy=fail, release immutability and a virtual repository.
 * Runs offline: see support.ts for how the plugins come from the local seed repository.
 */

const SERVER = 'ak'
const credentials = [{ id: SERVER, username: 'admin', password: ADMIN_PASSWORD }]
const haveMvn = requireClient('mvn', 'apt-get install -y maven', ['-v'])
const haveSeed = haveMvn && seedHasPlugins()
if (haveMvn && !haveSeed) {
  const msg = `\n!!! the Maven plugins these tests pin are not in ${SEED_REPO} (no internet to fetch them): mvn tests are SKIPPED. Set AK_MAVEN_SEED_REPO to a repository that has them.\n`
  if (REQUIRE_CLIENTS) it('Maven plugins are available offline (AK_REQUIRE_CLIENTS=1)', () => { throw new Error(msg) })
  else process.stderr.write(msg)
}

const MVN_TIMEOUT = 300_000
let node: NodeProcess

function run(cwd: string, jar: string): string {
  return execFileSync('java', ['-cp', `${join(cwd, 'target/classes')}:${jar}`, 'akt.app.Main'], { timeout: 60_000 }).toString().trim()
}

describe.runIf(haveSeed)('mvn against a node', () => {
  const lib = { groupId: 'akt.greet', artifactId: 'greeter', version: '1.0' }
  const snap = { ...lib, version: '1.1-SNAPSHOT' }
  let url: string

  beforeAll(async () => {
    node = await startNodeProcess()
    url = `${node.url}/maven/libs`
    await createRepo(node, { key: 'libs' })
    await createRepo(node, { key: 'team' })
    await createRepo(node, { key: 'all', type: 'virtual', settings: { members: ['libs', 'team'], defaultDeployRepo: 'team' } })
  })

  afterAll(async () => {
    await node?.stop()
    removeWorkDirs()
  })

  it('deploys a release with mvn deploy and builds a project that resolves it through the node', { timeout: MVN_TIMEOUT }, async () => {
    const producer = mavenEnv(credentials)
    const src = workDir('ak-mvn-lib-')
    writeLibrary(src, lib, 'hello from release 1.0', url, SERVER)
    const deployed = await producer.mvn(src, ['deploy'])
    expect(deployed.output).toContain('BUILD SUCCESS')
    expect(deployed.output).toContain(`Uploaded to ${SERVER}: ${url}/akt/greet/greeter/1.0/greeter-1.0.jar`)

    const consumer = mavenEnv(credentials)
    const app = workDir('ak-mvn-app-')
    writeConsumer(app, lib, url, SERVER)
    const built = await consumer.mvn(app, ['compile'])
    expect(built.output).toContain(`Downloaded from ${SERVER}: ${url}/akt/greet/greeter/1.0/greeter-1.0.jar`)
    expect(built.output).toContain('BUILD SUCCESS')
    expect(built.output).not.toMatch(/checksum/i)
    const jar = join(consumer.localRepo, 'akt/greet/greeter/1.0/greeter-1.0.jar')
    // Maven fetched and checked the .sha1 sidecar (checksumPolicy fail) and kept it.
    expect(existsSync(`${jar}.sha1`)).toBe(true)
    expect(run(app, jar)).toBe('hello from release 1.0')
  })

  it('refuses to redeploy the release with other bytes: mvn fails with 409', { timeout: MVN_TIMEOUT }, async () => {
    const producer = mavenEnv(credentials)
    const src = workDir('ak-mvn-lib-')
    writeLibrary(src, lib, 'a different 1.0', url, SERVER)
    const res = await producer.mvn(src, ['deploy'])
    expect(res.code).not.toBe(0)
    expect(res.output).toMatch(/409 Conflict - release akt\.greet:greeter:1\.0 is immutable/)
    const served = await fetch(`${url}/akt/greet/greeter/1.0/greeter-1.0.jar.sha1`, { headers: { authorization: node.adminAuth } })
    expect(served.status).toBe(200)
  })

  it('deploys a SNAPSHOT twice (build numbers advance) and resolves the newest build', { timeout: MVN_TIMEOUT }, async () => {
    const producer = mavenEnv(credentials)
    const src = workDir('ak-mvn-snap-')
    writeLibrary(src, snap, 'snapshot build one', url, SERVER)
    const first = await producer.mvn(src, ['deploy'])
    expect(first.output).toContain('BUILD SUCCESS')
    expect(first.output).toMatch(/greeter-1\.1-\d{8}\.\d{6}-1\.jar/)
    writeLibrary(src, snap, 'snapshot build two', url, SERVER)
    const second = await producer.mvn(src, ['deploy'])
    expect(second.output).toContain('BUILD SUCCESS')
    expect(second.output).toMatch(/greeter-1\.1-\d{8}\.\d{6}-2\.jar/)

    const xml = await (await fetch(`${url}/akt/greet/greeter/1.1-SNAPSHOT/maven-metadata.xml`, { headers: { authorization: node.adminAuth } })).text()
    expect(xml).toMatch(/<buildNumber>2<\/buildNumber>/)
    const top = await (await fetch(`${url}/akt/greet/greeter/maven-metadata.xml`, { headers: { authorization: node.adminAuth } })).text()
    expect(top).toMatch(/<latest>1\.1-SNAPSHOT<\/latest>\s*<release>1\.0<\/release>/)

    const consumer = mavenEnv(credentials)
    const app = workDir('ak-mvn-app-')
    writeConsumer(app, snap, url, SERVER)
    const built = await consumer.mvn(app, ['compile'])
    expect(built.output).toContain('BUILD SUCCESS')
    expect(built.output).toMatch(/Downloaded from ak: .*greeter-1\.1-\d{8}\.\d{6}-2\.jar/)
    expect(run(app, join(consumer.localRepo, 'akt/greet/greeter/1.1-SNAPSHOT/greeter-1.1-SNAPSHOT.jar'))).toBe('snapshot build two')
  })

  it('deploys through a virtual repository to its default member and resolves through it', { timeout: MVN_TIMEOUT }, async () => {
    const virtualUrl = `${node.url}/maven/all`
    const other = { groupId: 'akt.team', artifactId: 'tool', version: '2.0' }
    const producer = mavenEnv(credentials)
    const src = workDir('ak-mvn-virt-')
    writeLibrary(src, other, 'from the team repository', virtualUrl, SERVER)
    expect((await producer.mvn(src, ['deploy'])).output).toContain('BUILD SUCCESS')
    const inTeam = await fetch(`${node.url}/maven/team/akt/team/tool/2.0/tool-2.0.jar`, { headers: { authorization: node.adminAuth } })
    expect(inTeam.status).toBe(200)

    const consumer = mavenEnv(credentials)
    const app = workDir('ak-mvn-app-')
    writeConsumer(app, other, virtualUrl, SERVER)
    const built = await consumer.mvn(app, ['compile'])
    expect(built.output).toContain('BUILD SUCCESS')
    expect(run(app, join(consumer.localRepo, 'akt/team/tool/2.0/tool-2.0.jar'))).toBe('from the team repository')
    // The release in the other member is visible through the same virtual repository.
    const app2 = workDir('ak-mvn-app-')
    writeConsumer(app2, lib, virtualUrl, SERVER)
    const built2 = await consumer.mvn(app2, ['compile'])
    expect(built2.output).toContain('BUILD SUCCESS')
    expect(run(app2, join(consumer.localRepo, 'akt/greet/greeter/1.0/greeter-1.0.jar'))).toBe('hello from release 1.0')
  })

  it('fails a deploy without credentials with 401', { timeout: MVN_TIMEOUT }, async () => {
    const producer = mavenEnv([])
    const src = workDir('ak-mvn-anon-')
    writeLibrary(src, { ...lib, version: '9.0' }, 'anonymous', url, SERVER)
    const res = await producer.mvn(src, ['deploy'])
    expect(res.code).not.toBe(0)
    expect(res.output).toMatch(/401/)
    const absent = await fetch(`${url}/akt/greet/greeter/9.0/greeter-9.0.jar`, { headers: { authorization: node.adminAuth } })
    expect(absent.status).toBe(404)
  })
})
