import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createReplicationLog, openDb } from '../../store/index.ts'
import { replicationState } from '../../store/index.ts'
import { AK_BIN, runAk, type NodeProcess } from '../helpers/node-process.ts'

export const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex')

/** The replication state hash of a stopped node's data directory, read in-process. */
export function stateOf(dataDir: string): { hash: string; artifacts: number; events: number } {
  const db = openDb(join(dataDir, 'metadata.db'))
  try {
    const s = replicationState(db, createReplicationLog(db, 'reader'))
    const events = (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n
    return { hash: s.hash, artifacts: s.artifacts, events }
  } finally {
    db.close()
  }
}

/** Blob files the fs driver holds in a data directory. */
export function storedBlobs(dataDir: string): string[] {
  const root = join(dataDir, 'blobs', 'sha256')
  if (!existsSync(root)) return []
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)))
}

export async function ak(args: string[]) {
  return runAk(args, { AK_LOG_LEVEL: 'warn' }, 120_000)
}

/** Runs an `ak … --json` command and parses its stdout; throws with stderr on failure. */
export async function akJson<T>(args: string[]): Promise<T> {
  const r = await ak([...args, '--json'])
  if (r.code !== 0) throw new Error(`ak ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

export async function put(node: NodeProcess, repo: string, path: string, body: Uint8Array | string): Promise<void> {
  const res = await fetch(`${node.url}/generic/${repo}/${path}`, {
    method: 'PUT',
    body: typeof body === 'string' ? body : Buffer.from(body),
    headers: { authorization: node.adminAuth, 'content-type': 'application/octet-stream' },
    signal: AbortSignal.timeout(30_000),
  })
  if (res.status >= 300) throw new Error(`PUT ${repo}/${path} answered ${res.status}: ${await res.text()}`)
}

export async function createRepo(node: NodeProcess, key: string): Promise<void> {
  const res = await fetch(`${node.url}/api/v1/repositories`, {
    method: 'POST',
    body: JSON.stringify({ key, format: 'generic' }),
    headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
    signal: AbortSignal.timeout(10_000),
  })
  if (res.status >= 300) throw new Error(`create ${key} answered ${res.status}: ${await res.text()}`)
}

export async function fetchBytes(node: NodeProcess, repo: string, path: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${node.url}/generic/${repo}/${path}`, { headers: { authorization: node.adminAuth }, signal: AbortSignal.timeout(30_000) })
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) }
}

/** Frame offsets of a bundle file (a reading of the layout in node/bundle/constants.ts, for tampering). */
export function bundleLayout(file: string): { header: number; events: number[]; blobs: { meta: number; bytes: number; size: number }[]; trailer: number } {
  const buf = readFileSync(file)
  let at = 10
  const out = { header: -1, events: [] as number[], blobs: [] as { meta: number; bytes: number; size: number }[], trailer: -1 }
  while (at < buf.length) {
    const tag = String.fromCharCode(buf[at] as number)
    if (tag === 'S') {
      out.trailer = at
      break
    }
    const len = buf.readUInt32BE(at + 1)
    if (tag === 'H') out.header = at + 5
    if (tag === 'E') out.events.push(at + 5)
    at += 5 + len
    if (tag === 'B') {
      const meta = JSON.parse(buf.subarray(at - len, at).toString('utf8')) as { size: number }
      out.blobs.push({ meta: at - len, bytes: at, size: meta.size })
      at += meta.size
    }
  }
  return out
}

/** Spawns `ak import` and SIGKILLs it as soon as `ready()` holds; resolves with whether it was still running then. */
export async function killImportWhen(args: string[], ready: () => boolean, timeoutMs = 60_000): Promise<{ killedRunning: boolean; stderr: string }> {
  const child = spawn(process.execPath, [AK_BIN, ...args], { env: { ...process.env, AK_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const deadline = Date.now() + timeoutMs
  let killedRunning = false
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break
    if (ready()) {
      killedRunning = child.exitCode === null
      child.kill('SIGKILL')
      break
    }
    await new Promise((r) => setTimeout(r, 2))
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await exited
  return { killedRunning, stderr }
}

// The bridge test's multi-node helpers are the mesh tests' own.
export { api, connectedTo, meshStatus, newMeshKey, preparedIdentity, startMeshNode, waitFor, type MeshStatusBody } from '../mesh/mesh-helpers.ts'
