/**
 * Shared pieces of the acceptance tests: deterministic pseudo-random bodies that are generated
 * while they are sent (never held whole in memory), repository creation over the HTTP API,
 * streamed hashing of responses, and an s3rver child process on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createCipheriv, createHash, type Hash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { request, type Dispatcher } from 'undici'
import { REPO_ROOT, type NodeProcess } from '../helpers/node-process.ts'

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

/** Bytes generated per step: the largest piece of a body that exists at once in the test. */
const GENERATOR_STEP = 1 * MiB
const ZEROS = Buffer.alloc(GENERATOR_STEP)

/**
 * A reproducible pseudo-random byte source: the AES-128-CTR keystream of `seed` (over 1 GB/s
 * with AES-NI, so the generator is never what a test measures).
 */
export function keystream(seed: number) {
  const key = createHash('sha256').update(`ak-acceptance-${seed}`).digest()
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32))
  return (n: number): Buffer => cipher.update(n === GENERATOR_STEP ? ZEROS : ZEROS.subarray(0, n))
}

/** sha256 of the `size` bytes that `randomBody(seed, size)` yields, computed without keeping them. */
export function expectedSha256(seed: number, size: number): string {
  const next = keystream(seed)
  const hash = createHash('sha256')
  for (let left = size; left > 0; left -= GENERATOR_STEP) hash.update(next(Math.min(GENERATOR_STEP, left)))
  return hash.digest('hex')
}

/**
 * A request body of `size` pseudo-random bytes made on demand (one MiB at a time, with the
 * stream's backpressure), hashing what it hands out and counting it.
 */
export class RandomBody extends Readable {
  /** Bytes handed to the consumer so far. */
  sent = 0
  private readonly next: (n: number) => Buffer
  private readonly hash: Hash = createHash('sha256')
  private digestHex: string | undefined

  constructor(
    seed: number,
    readonly size: number,
    private readonly onProgress?: (sent: number) => void,
  ) {
    super({ highWaterMark: GENERATOR_STEP })
    this.next = keystream(seed)
  }

  override _read(): void {
    const n = Math.min(GENERATOR_STEP, this.size - this.sent)
    if (n === 0) {
      this.push(null)
      return
    }
    const buf = this.next(n)
    this.hash.update(buf)
    this.sent += n
    this.onProgress?.(this.sent)
    this.push(buf)
  }

  /** sha256 of everything handed out; only valid once the whole body was produced. */
  sha256(): string {
    if (this.sent !== this.size) throw new Error(`body only produced ${this.sent} of ${this.size} bytes`)
    this.digestHex ??= this.hash.digest('hex')
    return this.digestHex
  }
}

/** Streams a response body through sha256; nothing is kept but the hash state. */
export async function hashBody(body: AsyncIterable<Buffer | Uint8Array>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of body) {
    hash.update(chunk)
    size += chunk.length
  }
  return { sha256: hash.digest('hex'), size }
}

/** Creates a generic repository through the management API, as the admin. */
export async function createGenericRepo(node: NodeProcess, key: string, dispatcher?: Dispatcher): Promise<void> {
  const res = await request(`${node.url}/api/v1/repositories`, {
    method: 'POST',
    headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
    body: JSON.stringify({ key, format: 'generic' }),
    ...(dispatcher ? { dispatcher } : {}),
  })
  const text = await res.body.text()
  if (res.statusCode !== 201) throw new Error(`creating repository ${key}: HTTP ${res.statusCode} ${text}`)
}

/**
 * Forgets the peak resident set size of `pid` (Linux clear_refs 5), so VmHWM read afterwards is
 * the peak since now. Returns false where the kernel refuses; VmHWM is then the lifetime peak.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** Reads a field of /proc/PID/status in bytes. */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(m[1]) * KiB
}

export interface S3rverProcess {
  endpoint: string
  bucket: string
  pid: number
  /** Environment that points a node at this server. */
  nodeEnv: Record<string, string>
  stop(): Promise<void>
}

// s3rver runs in its own process, so its work (md5 of every part, the multipart concatenation)
// does not share an event loop with the test that is generating and hashing the bytes.
const S3RVER_MAIN = `
const S3rver = require('s3rver')
const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: process.env.S3RVER_DIR,
  configureBuckets: [{ name: process.env.S3RVER_BUCKET }],
})
server.run().then(({ port }) => process.stdout.write('S3RVER_PORT=' + port + '\\n'), (err) => { console.error(err); process.exit(1) })
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
`

/** Starts s3rver (the npm package) as a child process on 127.0.0.1 with an OS-chosen port and one bucket. */
export async function startS3rver(bucket = 'ak-acceptance', timeoutMs = 30_000): Promise<S3rverProcess> {
  const directory = mkdtempSync(join(tmpdir(), 'ak-s3rver-'))
  const child: ChildProcess = spawn(process.execPath, ['-e', S3RVER_MAIN], {
    cwd: REPO_ROOT,
    env: { ...process.env, S3RVER_DIR: directory, S3RVER_BUCKET: bucket },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`s3rver did not start within ${timeoutMs} ms: ${out}`))
    }, timeoutMs)
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /S3RVER_PORT=(\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolvePort(Number(m[1]))
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`s3rver exited with ${code}: ${out}`))
    })
  })
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    bucket,
    pid: child.pid as number,
    nodeEnv: {
      AK_STORAGE_BACKEND: 's3',
      AK_S3_BUCKET: bucket,
      AK_S3_ENDPOINT: endpoint,
      AK_S3_FORCE_PATH_STYLE: 'true',
      AK_S3_ACCESS_KEY_ID: 'S3RVER',
      AK_S3_SECRET_ACCESS_KEY: 'S3RVER',
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      rmSync(directory, { recursive: true, force: true })
    },
  }
}
