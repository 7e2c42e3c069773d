import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..')
export const AK_BIN = join(REPO_ROOT, 'bin', 'ak.mjs')
export const ADMIN_PASSWORD = 'admin-test-password'

export interface NodeProcess {
  url: string
  pid: number
  dataDir: string
  child: ChildProcess
  /** Everything the node printed so far. */
  output(): string
  /** Resident set size of the node process in bytes (from /proc). */
  rss(): number
  /** Peak resident set size (VmHWM) in bytes. */
  peakRss(): number
  /** SIGTERM and wait for exit (bounded). */
  stop(timeoutMs?: number): Promise<number | null>
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>
  /** Basic auth header for the admin user. */
  adminAuth: string
}

const started = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL')
})

export function tempDir(prefix = 'ak-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

function procStatus(pid: number, field: string): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)
  return m ? Number(m[1]) * 1024 : 0
}

export interface StartOptions {
  /** The `ak` entry point. @default AK_BIN (this checkout's bin/ak.mjs) */
  bin?: string
  dataDir?: string
  env?: Record<string, string>
  args?: string[]
  /** @default 30_000 */
  timeoutMs?: number
}

/** Spawns `ak serve` as a real child process on 127.0.0.1 with an OS-chosen port. */
export async function startNodeProcess(options: StartOptions = {}): Promise<NodeProcess> {
  const dataDir = options.dataDir ?? tempDir()
  const child = spawn(process.execPath, [options.bin ?? AK_BIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...(options.args ?? [])], {
    env: {
      ...process.env,
      AK_DATA_DIR: dataDir,
      AK_ADMIN_PASSWORD: ADMIN_PASSWORD,
      AK_LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.add(child)
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`node did not start within ${options.timeoutMs ?? 30_000} ms:\n${out}`))
    }, options.timeoutMs ?? 30_000)
    const onData = () => {
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolveUrl(m[1] as string)
      }
    }
    child.stdout?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`node exited with ${code} before listening:\n${out}`))
    })
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const pid = child.pid as number
  return {
    url,
    pid,
    dataDir,
    child,
    output: () => out,
    rss: () => procStatus(pid, 'VmRSS'),
    peakRss: () => procStatus(pid, 'VmHWM'),
    adminAuth: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      const code = await exited
      clearTimeout(timer)
      started.delete(child)
      return code
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
      started.delete(child)
    },
  }
}

/** Runs an `ak` subcommand to completion; returns exit code and output. */
export async function runAk(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
  const child = spawn(process.execPath, [AK_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdin.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}
