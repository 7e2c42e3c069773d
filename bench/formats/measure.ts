// Measuring tools shared by the format benchmarks: the CPU a process has used (from /proc),
// wall time, medians, machine facts and the load average, and the text table.
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'

export const MiB = 1024 * 1024
export const SECOND = 1000
export const MINUTE = 60 * SECOND

/** Clock ticks per second of utime/stime in /proc/PID/stat (`getconf CLK_TCK`, 100 on Linux). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/**
 * CPU seconds (user + system, every thread of the process) that `pid` has used so far:
 * fields 14 and 15 of /proc/PID/stat (proc(5)). Children are not counted.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  return (utime + stime) / CLOCK_TICKS
}

export interface Sample {
  /** Wall time of the work, in seconds. */
  wallS: number
  /** CPU seconds the registry process used during the work. */
  cpuS: number
}

/** Runs `work` and returns its wall time and the CPU that process `pid` spent meanwhile. */
export async function measure(pid: number, work: () => Promise<void>): Promise<Sample> {
  const cpu0 = cpuSeconds(pid)
  const t0 = performance.now()
  await work()
  const wallS = (performance.now() - t0) / SECOND
  return { wallS, cpuS: cpuSeconds(pid) - cpu0 }
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits

export interface Summary {
  wallS: number
  cpuS: number
  samples: Sample[]
}

export function summarize(samples: Sample[]): Summary {
  return {
    wallS: round(median(samples.map((s) => s.wallS)), 3),
    cpuS: round(median(samples.map((s) => s.cpuS)), 3),
    samples: samples.map((s) => ({ wallS: round(s.wallS, 3), cpuS: round(s.cpuS, 3) })),
  }
}

export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  return {
    nproc: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    node: process.version,
    memTotalMiB: Math.round(os.totalmem() / MiB),
  }
}

/** `uptime` output (load averages), to show how busy the machine was. */
export function load(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim()
  } catch {
    return `load average: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')}`
  }
}

/** One line of a client's version, or 'missing'. */
export function versionOf(cmd: string, args = ['--version']): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0] ?? ''
  } catch {
    return 'missing'
  }
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command to completion with a timeout; never rejects. */
export function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: options.env ?? process.env, cwd: options.cwd, timeout: options.timeoutMs, maxBuffer: 64 * MiB },
      (err, stdout, stderr) => {
        const failure = err as (Error & { code?: unknown; signal?: string | null; killed?: boolean }) | null
        const code = failure ? (typeof failure.code === 'number' ? failure.code : 1) : 0
        const why = failure && typeof failure.code !== 'number' ? `\n[${failure.killed ? `killed after ${options.timeoutMs} ms` : failure.message}${failure.signal ? ` by ${failure.signal}` : ''}]` : ''
        resolve({ code, stdout: String(stdout), stderr: `${String(stderr)}${why}` })
      },
    )
  })
}

/** Runs a command and throws with its output if it fails. */
export async function mustRun(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Promise<RunResult> {
  const r = await run(cmd, args, options)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code}:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`)
  return r
}

/** A plain-text table with right-aligned numeric columns. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`
  const sep = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`
  return [line(header), sep, ...cells.slice(1).map(line)].join('\n')
}

/** `x / y` as a ratio string such as `0.93×`. */
export const ratio = (x: number, y: number) => (y > 0 ? `${(x / y).toFixed(2)}×` : 'n/a')
