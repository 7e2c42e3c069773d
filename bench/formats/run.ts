/**
 * `node bin/run-ts.mjs bench/formats/run.ts [npm|oci] [flags]`: the native-format benchmarks, each
 * side by side with a reference server in the same run (see bench/README.md, "Formats").
 *
 *   oci  skopeo copy of a multi-layer image into and out of a node vs Debian's docker-registry
 *   npm  publish, cold `npm install` and packument throughput, node vs Verdaccio 5
 *
 * Every figure reports wall time and the registry process's own CPU seconds (/proc/PID/stat
 * utime+stime before and after the same work). With no positional argument both run.
 * Writes bench/results/formats-latest.json (sections not run are kept from the previous file;
 * --quick writes formats-quick.json instead).
 *
 * Flags:
 *   --rounds N        rounds of each alternating A/B measurement (default 7)
 *   --layers N        OCI image layers (default 5)
 *   --layer-mib N     MiB per OCI layer (default 100)
 *   --packages N      npm corpus size, ≥ 12 (default 120)
 *   --duration S      seconds per autocannon run (default 10)
 *   --connections N   autocannon connections (default 10)
 *   --quick           a smoke run: 3 rounds, 2 × 16 MiB layers, 40 packages, 3 s autocannon
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT } from '../../test/helpers/node-process.ts'
import { load, machine, ratio, table } from './measure.ts'
import { benchOci, type OciResult } from './oci.ts'
import { benchNpm, npmTables, type NpmResult } from './npm.ts'


const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string' },
    layers: { type: 'string' },
    'layer-mib': { type: 'string' },
    packages: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
})

const which = positionals[0]
if (which !== undefined && which !== 'npm' && which !== 'oci') {
  process.stderr.write('usage: run.ts [npm|oci] [--rounds N] [--layers N] [--layer-mib N] [--packages N] [--duration S] [--connections N] [--quick]\n')
  process.exit(2)
}

function intFlag(name: keyof typeof values, fallback: number, quick: number, min = 1): number {
  const raw = values[name]
  const n = typeof raw === 'string' ? Number(raw) : values.quick ? quick : fallback
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be an integer ≥ ${min}\n`)
    process.exit(2)
  }
  return n
}

const rounds = intFlag('rounds', 7, 3)
/** A --quick run must not overwrite the full run's figures. */
const RESULTS = join(REPO_ROOT, 'bench', 'results', values.quick ? 'formats-quick.json' : 'formats-latest.json')
const log = (line: string) => process.stderr.write(`${line}\n`)

interface Section<T> {
  startedAt: string
  /** The command-line flags of the run. */
  flags: string[]
  machine: ReturnType<typeof machine>
  loadStart: string
  loadEnd: string
  result: T
}

const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {}
const results: { oci?: Section<OciResult>; npm?: Section<NpmResult> } = { ...previous }
const work = mkdtempSync(join(tmpdir(), 'ak-bench-formats-'))
/** AK_BENCH_KEEP=1 keeps the scratch directory (logs, npm's debug logs) for a post-mortem. */
const cleanup = () => (process.env.AK_BENCH_KEEP === '1' ? log(`kept ${work}`) : rmSync(work, { recursive: true, force: true }))
process.once('SIGINT', () => {
  cleanup()
  process.exit(130)
})

async function section<T>(name: string, fn: (dir: string) => Promise<T>): Promise<Section<T>> {
  const startedAt = new Date().toISOString()
  const loadStart = load()
  log(`${name}: start — ${loadStart}`)
  const dir = join(work, name)
  mkdirSync(dir)
  try {
    const result = await fn(dir)
    return { startedAt, flags: process.argv.slice(2), machine: machine(), loadStart, loadEnd: load(), result }
  } finally {
    if (process.env.AK_BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true })
  }
}

try {
  if (which === undefined || which === 'oci') {
    results.oci = await section('oci', (dir) =>
      benchOci({ rounds, layers: intFlag('layers', 5, 2), layerMiB: intFlag('layer-mib', 100, 16), work: dir, log }),
    )
  }
  if (which === undefined || which === 'npm') {
    results.npm = await section('npm', (dir) =>
      benchNpm({
        rounds,
        packages: intFlag('packages', 120, 40, 12),
        durationS: intFlag('duration', 10, 3),
        connections: intFlag('connections', 10, 10),
        work: dir,
        log,
      }),
    )
  }
} finally {
  cleanup()
}

mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true })
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`)
process.stdout.write(report(results))
log(`results: ${RESULTS}`)

function report(r: typeof results): string {
  const out: string[] = []
  const facts = (s: Section<unknown>) => {
    const m = s.machine
    out.push(`Machine: ${m.nproc} cores, ${m.cpuModel}, node ${m.node}, ${m.memTotalMiB} MiB RAM; run ${s.startedAt}`)
    out.push(`Load at start: ${s.loadStart}`)
    out.push(`Load at end:   ${s.loadEnd}`)
    out.push('')
  }
  const goals = (gs: { name: string; value: string; goal: string; met: boolean }[]) =>
    table(['goal', 'measured', 'target', 'met'], gs.map((g) => [g.name, g.value, g.goal, g.met ? 'yes' : 'NO']))
  if (r.oci) {
    const o = r.oci.result
    out.push(`## OCI: skopeo copy of a ${o.image.layers}-layer, ${o.image.totalMiB} MiB image, median of ${o.rounds} (ak vs Distribution 2.8)`)
    out.push('')
    facts(r.oci)
    out.push(
      table(
        ['work', 'ak wall s', 'dist wall s', 'wall ak/dist', 'ak CPU s', 'dist CPU s', 'CPU ak/dist'],
        (['push', 'pull'] as const).map((k) => [
          k,
          o[k].ak.wallS.toFixed(2),
          o[k].distribution.wallS.toFixed(2),
          ratio(o[k].ak.wallS, o[k].distribution.wallS),
          o[k].ak.cpuS.toFixed(2),
          o[k].distribution.cpuS.toFixed(2),
          ratio(o[k].ak.cpuS, o[k].distribution.cpuS),
        ]),
      ),
    )
    out.push('')
    out.push(goals(o.goals))
    out.push('')
  }
  if (r.npm) {
    out.push(`## npm: ${r.npm.result.corpus.packages} packages, ${r.npm.result.corpus.versions} versions (ak vs Verdaccio ${r.npm.result.clients.verdaccio})`)
    out.push('')
    facts(r.npm)
    out.push(...npmTables(r.npm.result))
    out.push(goals(r.npm.result.goals))
    out.push('')
  }
  out.push('Numbers are noisy: other work shares these cores (see the load figures); rerun to compare.')
  out.push('')
  return out.join('\n')
}
