// The registries under test, each started as its own process on 127.0.0.1 so that its CPU can be
// read from /proc/PID/stat: an Artifact Keeper node (`ak serve`), Debian's docker-registry
// (Distribution 2.8) and Verdaccio 5. Every one keeps its data in a directory the caller owns and
// is stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ADMIN_PASSWORD, REPO_ROOT, startNodeProcess } from '../../test/helpers/node-process.ts'
import { SECOND } from './measure.ts'

export const DISTRIBUTION_BIN = '/usr/bin/docker-registry'
export const VERDACCIO_BIN = join(REPO_ROOT, 'node_modules', 'verdaccio', 'bin', 'verdaccio')
/** How long a registry may take to answer its first request. */
const START_TIMEOUT = 60 * SECOND
/** How long a registry may take to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT = 15 * SECOND

export interface Registry {
  /** Short name for tables: 'ak', 'distribution', 'verdaccio'. */
  name: string
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string
  /** host:port */
  host: string
  pid: number
  /** Authorization header value for a user allowed to publish. */
  auth?: string
  stop(): Promise<void>
}

/** A TCP port that was free a moment ago (for servers that cannot be told to use port 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

async function waitForHttp(url: string, child: ChildProcess, logFile: string, ok: (status: number) => boolean): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${url}: process exited with ${child.exitCode ?? child.signalCode} before answering:\n${tail(logFile)}`)
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2 * SECOND) })
      await res.arrayBuffer()
      if (ok(res.status)) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  child.kill('SIGKILL')
  throw new Error(`${url} did not answer within ${START_TIMEOUT} ms:\n${tail(logFile)}`)
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').slice(-3000) : ''
}

/** Stops a child by its PID: SIGTERM, then SIGKILL after a bound. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT)
  await exited
  clearTimeout(timer)
}

/** Children still running when the benchmark exits abnormally are killed by PID. */
const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

function spawnLogged(cmd: string, args: string[], logFile: string, cwd: string): ChildProcess {
  const log = createWriteStream(logFile)
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } })
  child.stdout?.pipe(log, { end: false })
  child.stderr?.pipe(log, { end: false })
  children.add(child)
  child.once('exit', () => {
    children.delete(child)
    log.end()
  })
  return child
}

/** An Artifact Keeper node (`node bin/ak.mjs serve`) with its data in `dataDir`, as shipped. */
export async function startAk(dataDir: string): Promise<Registry> {
  const node = await startNodeProcess({ dataDir, timeoutMs: START_TIMEOUT, env: { NODE_ENV: 'production' } })
  return {
    name: 'ak',
    url: node.url,
    host: new URL(node.url).host,
    pid: node.pid,
    auth: node.adminAuth,
    async stop() {
      await node.stop(STOP_TIMEOUT)
    },
  }
}

export const AK_ADMIN = { user: 'admin', password: ADMIN_PASSWORD }

/**
 * Debian's docker-registry (Distribution 2.8) with Debian's shipped config.yml except: storage in
 * `dir`, listening on 127.0.0.1, no auth.
 */
export async function startDistribution(dir: string): Promise<Registry> {
  const port = await freePort()
  const storage = join(dir, 'storage')
  mkdirSync(storage, { recursive: true })
  const config = join(dir, 'config.yml')
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  fields:',
      '    service: registry',
      'storage:',
      '  cache:',
      '    blobdescriptor: inmemory',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  headers:',
      '    X-Content-Type-Options: [nosniff]',
      'health:',
      '  storagedriver:',
      '    enabled: true',
      '    interval: 10s',
      '    threshold: 3',
      '',
    ].join('\n'),
  )
  const logFile = join(dir, 'registry.log')
  const child = spawnLogged(DISTRIBUTION_BIN, ['serve', config], logFile, dir)
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/v2/`, child, logFile, (s) => s === 200)
  return { name: 'distribution', url, host: `127.0.0.1:${port}`, pid: child.pid as number, stop: () => stopChild(child) }
}

/** Verdaccio 5 with storage in `dir`, htpasswd auth, no uplinks: everything is local. */
export async function startVerdaccio(dir: string): Promise<Registry> {
  const port = await freePort()
  const storage = join(dir, 'storage')
  mkdirSync(storage, { recursive: true })
  const config = join(dir, 'config.yaml')
  writeFileSync(
    config,
    [
      `storage: ${storage}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      '    max_users: 1000',
      'uplinks: {}',
      'packages:',
      "  '@*/*':",
      '    access: $all',
      '    publish: $authenticated',
      '    unpublish: $authenticated',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      '    unpublish: $authenticated',
      'server:',
      '  keepAliveTimeout: 60',
      'max_body_size: 100mb',
      'log: { type: stdout, format: json, level: http }',
      '',
    ].join('\n'),
  )
  const logFile = join(dir, 'verdaccio.log')
  const child = spawnLogged(process.execPath, [VERDACCIO_BIN, '--config', config, '--listen', `127.0.0.1:${port}`], logFile, dir)
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/-/ping`, child, logFile, (s) => s === 200)
  return { name: 'verdaccio', url, host: `127.0.0.1:${port}`, pid: child.pid as number, stop: () => stopChild(child) }
}
