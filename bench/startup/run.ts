/**
 * `npm run bench:startup`: time from spawn to the first `200 /ready`, and the resident set size
 * (VmRSS from /proc) at that moment, of `ak serve` with the default configuration (mesh off,
 * filesystem backend, no admin password given: the first start creates one), each run on a fresh
 * temp data directory with port 0 (bench/README.md "Start-up").
 *
 *   compiled   `node bin/ak.mjs serve` running dist/ (the build must be fresh: `npm run build`)
 *   tsx        `node bin/ak.mjs serve` with AK_FROM_SOURCE=1: the TypeScript sources through tsx
 *   baseline   optional: `node <dir>/bin/ak.mjs serve` of another checkout (AK_BENCH_STARTUP_BASELINE=<dir>),
 *              e.g. a clone of an older commit with node_modules linked, to compare with "before"
 *
 * One discarded warm-up per variant (OS file cache, tsx's transform cache), then AK_BENCH_REPS
 * (default 5) runs, alternating variants so a burst of load elsewhere hits each alike; figures are
 * medians. Writes bench/results/startup-latest.json.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { load, machine, median, round, MiB } from '../formats/measure.ts'

const REPO_ROOT = resolve(import.meta.dirname, '..', '..')
const REPS = Number(process.env.AK_BENCH_STARTUP_REPS ?? process.env.AK_BENCH_REPS ?? 5)
const BASELINE = process.env.AK_BENCH_STARTUP_BASELINE
const READY_TIMEOUT_MS = 30_000
const POLL_MS = 10
const RESULTS = join(REPO_ROOT, 'bench', 'results', 'startup-latest.json')

interface Variant {
  name: string
  bin: string
  env: Record<string, string>
}

interface Run {
  readyMs: number
  rssMiB: number
}

const log = (line: string) => console.log(`[bench:startup] ${line}`)

function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

/** One start: spawn, find the URL in the log, poll /ready until 200, read VmRSS, stop. */
async function once(variant: Variant): Promise<Run> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'ak-bench-startup-'))
  const t0 = performance.now()
  const child = spawn(process.execPath, [variant.bin, 'serve', '--host', '127.0.0.1', '--port', '0'], {
    env: { ...process.env, AK_DATA_DIR: dataDir, AK_LOG_LEVEL: 'info', ...variant.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  try {
    const deadline = t0 + READY_TIMEOUT_MS
    let url: string | undefined
    for (;;) {
      if (performance.now() > deadline) throw new Error(`${variant.name}: not ready within ${READY_TIMEOUT_MS} ms:\n${out}`)
      if (child.exitCode !== null) throw new Error(`${variant.name}: exited with ${child.exitCode}:\n${out}`)
      url ??= /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(out)?.[1]
      if (url) {
        const ok = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) }).then(
          (r) => r.status === 200,
          () => false,
        )
        if (ok) {
          const readyMs = performance.now() - t0
          return { readyMs, rssMiB: vmRss(child.pid as number) / MiB }
        }
      }
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
  } finally {
    child.kill('SIGTERM')
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(killer)
    rmSync(dataDir, { recursive: true, force: true })
  }
}

function buildIsFresh(): boolean {
  const stamp = join(REPO_ROOT, 'dist', '.build-stamp')
  return existsSync(stamp)
}

async function main(): Promise<void> {
  if (!buildIsFresh()) throw new Error('no build in dist/: run `npm run build` first')
  const ak = join(REPO_ROOT, 'bin', 'ak.mjs')
  const variants: Variant[] = [
    // AK_REQUIRE_BUILD: fail rather than fall back to the sources when dist/ is stale.
    { name: 'compiled', bin: ak, env: { AK_REQUIRE_BUILD: '1' } },
    { name: 'tsx', bin: ak, env: { AK_FROM_SOURCE: '1' } },
  ]
  if (BASELINE) variants.push({ name: 'baseline', bin: join(resolve(BASELINE), 'bin', 'ak.mjs'), env: {} })

  const loadBefore = load()
  log(`machine: ${JSON.stringify(machine())}, load before: ${loadBefore}`)
  for (const v of variants) await once(v) // warm-up, discarded
  const runs = new Map<string, Run[]>(variants.map((v) => [v.name, []]))
  for (let i = 0; i < REPS; i++) {
    for (const v of variants) {
      const r = await once(v)
      runs.get(v.name)?.push(r)
      log(`${v.name} #${i + 1}: ready ${round(r.readyMs, 0)} ms, RSS ${round(r.rssMiB, 1)} MiB`)
    }
  }
  const loadAfter = load()

  const summary = variants.map((v) => {
    const rs = runs.get(v.name) ?? []
    return {
      variant: v.name,
      readyMs: round(median(rs.map((r) => r.readyMs)), 0),
      rssMiB: round(median(rs.map((r) => r.rssMiB)), 1),
      runs: rs.map((r) => ({ readyMs: round(r.readyMs, 0), rssMiB: round(r.rssMiB, 1) })),
    }
  })
  console.log('')
  console.log('| variant | time to /ready (median ms) | RSS at ready (median MiB) | runs (ms / MiB) |')
  console.log('| --- | ---: | ---: | --- |')
  for (const s of summary) {
    console.log(`| ${s.variant} | ${s.readyMs} | ${s.rssMiB} | ${s.runs.map((r) => `${r.readyMs}/${r.rssMiB}`).join(', ')} |`)
  }
  console.log(`\nload average before: ${loadBefore}; after: ${loadAfter}`)
  mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true })
  writeFileSync(
    RESULTS,
    JSON.stringify({ date: new Date().toISOString(), machine: machine(), loadBefore, loadAfter, reps: REPS, baseline: BASELINE, summary }, null, 2) + '\n',
  )
  log(`wrote ${RESULTS}`)
}

await main()
