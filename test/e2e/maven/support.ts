import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { NodeProcess } from '../../helpers/node-process.ts'
import { tempDir } from '../../helpers/node-process.ts'

const created: string[] = []

/** A temporary directory removed by removeWorkDirs(). */
export function workDir(prefix: string): string {
  const dir = tempDir(prefix)
  created.push(dir)
  return dir
}

/** Removes every directory made by workDir() and mavenEnv(). */
export function removeWorkDirs(): void {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true })
}

export async function createRepo(node: NodeProcess, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${node.url}/api/v1/repositories`, {
    method: 'POST',
    headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
    body: JSON.stringify({ format: 'maven', type: 'local', ...body }),
    signal: AbortSignal.timeout(10_000),
  })
  if (res.status !== 201) throw new Error(`creating repository failed: ${res.status} ${await res.text()}`)
}

/** A minimal valid POM for coordinates. */
export function pomFor(groupId: string, artifactId: string, version: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>${groupId}</groupId>
  <artifactId>${artifactId}</artifactId>
  <version>${version}</version>
</project>
`
}

/*
 * Offline Maven. This machine cannot reach Maven Central, so the builds run with a temporary
 * local repository seeded from the plugins already in ~/.m2/repository (or AK_MAVEN_SEED_REPO):
 * a tree of real directories whose files are symlinks. Whatever Maven writes (the artifacts it
 * resolves from the node, its tracking files) lands in the temporary tree, never in the seed.
 * A mirror of every external repository to a closed local port makes any attempt to reach the
 * internet fail at once instead of hanging; 127.0.0.1 (the node) is not "external".
 */

/** Plugin versions pinned in every test POM: present in the seed with all their dependencies. */
export const PLUGINS: Record<string, string> = {
  'maven-resources-plugin': '3.3.1',
  'maven-compiler-plugin': '3.11.0',
  'maven-surefire-plugin': '3.2.5',
  'maven-jar-plugin': '3.4.1',
  'maven-install-plugin': '3.1.1',
  'maven-deploy-plugin': '3.1.1',
}

export const SEED_REPO = process.env.AK_MAVEN_SEED_REPO ?? join(homedir(), '.m2', 'repository')

/** Whether the seed holds the pinned plugins (else the Maven client tests cannot run offline). */
export function seedHasPlugins(): boolean {
  return Object.entries(PLUGINS).every(([a, v]) => existsSync(join(SEED_REPO, 'org/apache/maven/plugins', a, v, `${a}-${v}.pom`)))
}

function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true })
  for (const e of readdirSync(from, { withFileTypes: true })) {
    // Never carry over another build's tracking files or our own test groups.
    if (e.name === '_remote.repositories' || e.name.startsWith('resolver-status') || (from === SEED_REPO && e.name === 'akt')) continue
    if (e.isDirectory()) linkTree(join(from, e.name), join(to, e.name))
    else if (e.isFile()) symlinkSync(join(from, e.name), join(to, e.name))
  }
}

export interface MavenEnv {
  dir: string
  settings: string
  localRepo: string
  /** Runs mvn in `cwd` with the env's settings; resolves with exit code and output. */
  mvn(cwd: string, args: string[], timeoutMs?: number): Promise<{ code: number | null; output: string }>
}

/** A temp HOME with settings.xml (server credentials for `serverId`) and a seeded local repository. */
export function mavenEnv(servers: { id: string; username: string; password: string }[]): MavenEnv {
  const dir = workDir('ak-mvn-')
  const localRepo = join(dir, 'repository')
  linkTree(SEED_REPO, localRepo)
  const settings = join(dir, 'settings.xml')
  writeFileSync(
    settings,
    `<settings>
  <localRepository>${localRepo}</localRepository>
  <offline>false</offline>
  <mirrors><mirror><id>no-internet</id><mirrorOf>external:*</mirrorOf><url>http://127.0.0.1:9/no-internet</url></mirror></mirrors>
  <servers>${servers.map((s) => `<server><id>${s.id}</id><username>${s.username}</username><password>${s.password}</password></server>`).join('')}</servers>
</settings>
`,
  )
  return {
    dir,
    settings,
    localRepo,
    mvn: (cwd, args, timeoutMs = 240_000) =>
      new Promise((resolve) => {
        execFile(
          'mvn',
          ['-B', '-e', '-s', settings, '-Dmaven.repo.local=' + localRepo, ...args],
          { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, HOME: dir, MAVEN_OPTS: '-Xmx512m' }, maxBuffer: 32 * 1024 * 1024 },
          (err, stdout, stderr) => {
            const code = err ? ((err as { code?: number }).code ?? null) : 0
            resolve({ code: typeof code === 'number' ? code : null, output: stdout + stderr })
          },
        )
      }),
  }
}

function pluginManagement(): string {
  const plugins = Object.entries(PLUGINS).map(([a, v]) => {
    // Surefire needs plexus-utils 1.1 for its Maven 2 compatibility layer, absent from the seed; no tests run anyway.
    const skip = a === 'maven-surefire-plugin' ? '<executions><execution><id>default-test</id><phase>none</phase></execution></executions>' : ''
    return `<plugin><artifactId>${a}</artifactId><version>${v}</version>${skip}</plugin>`
  })
  return `<build><pluginManagement><plugins>${plugins.join('')}</plugins></pluginManagement></build>`
}

const COMMON = '<properties><maven.compiler.release>17</maven.compiler.release><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>'

/** A library project (one class whose greet() returns `message`) that deploys to `url` as server `serverId`. */
export function writeLibrary(dir: string, c: { groupId: string; artifactId: string; version: string }, message: string, url: string, serverId: string): void {
  const pkg = c.groupId
  mkdirSync(join(dir, 'src/main/java', ...pkg.split('.')), { recursive: true })
  writeFileSync(
    join(dir, 'src/main/java', ...pkg.split('.'), 'Greeter.java'),
    `package ${pkg};\npublic class Greeter { public static String greet() { return ${JSON.stringify(message)}; } }\n`,
  )
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>${c.groupId}</groupId><artifactId>${c.artifactId}</artifactId><version>${c.version}</version>
  ${COMMON}
  ${pluginManagement()}
  <distributionManagement>
    <repository><id>${serverId}</id><url>${url}</url></repository>
    <snapshotRepository><id>${serverId}</id><url>${url}</url></snapshotRepository>
  </distributionManagement>
</project>
`,
  )
}

/**
 * An application that depends on the library and resolves it only through `url`, with
 * checksumPolicy fail so the node's .sha1 sidecars are verified by Maven.
 */
export function writeConsumer(dir: string, dep: { groupId: string; artifactId: string; version: string }, url: string, serverId: string): void {
  mkdirSync(join(dir, 'src/main/java/akt/app'), { recursive: true })
  writeFileSync(
    join(dir, 'src/main/java/akt/app/Main.java'),
    `package akt.app;\npublic class Main { public static void main(String[] a) { System.out.println(${dep.groupId}.Greeter.greet()); } }\n`,
  )
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>akt.app</groupId><artifactId>app</artifactId><version>1.0</version>
  ${COMMON}
  <dependencies><dependency><groupId>${dep.groupId}</groupId><artifactId>${dep.artifactId}</artifactId><version>${dep.version}</version></dependency></dependencies>
  <repositories><repository><id>${serverId}</id><url>${url}</url>
    <releases><checksumPolicy>fail</checksumPolicy></releases>
    <snapshots><enabled>true</enabled><updatePolicy>always</updatePolicy><checksumPolicy>fail</checksumPolicy></snapshots>
  </repository></repositories>
  ${pluginManagement()}
</project>
`,
  )
}
