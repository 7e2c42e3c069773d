/* `ak transfers`: the swarm downloads of a running node (GET /api/v1/transfers), as a table with progress bars, or JSON. */
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import type { Transfer } from '../scheduler/index.ts'
import type { Config } from './config.ts'
import { apiCall, withClientOptions, type ClientOptions } from './cli-client.ts'

/** The wire shape of GET /api/v1/transfers. */
export interface TransfersResponse {
  active: number
  transfers: Transfer[]
}

export interface TransfersCliDeps {
  config: (cmd: Command) => Config
  table: (rows: Record<string, unknown>[], columns: string[]) => string
}

const BAR_WIDTH = 24

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

/** A progress bar drawn with cli-progress's own bar formatter. */
function bar(progress: number): string {
  return cliProgress.Format.BarFormat(Math.max(0, Math.min(1, progress)), {
    barsize: BAR_WIDTH,
    barCompleteString: '█'.repeat(BAR_WIDTH),
    barIncompleteString: '░'.repeat(BAR_WIDTH),
    barGlue: '',
  })
}

/** The table `ak transfers` prints: one row per download, then one indented row per source. */
export function renderTransfers(body: TransfersResponse, table: TransfersCliDeps['table']): string {
  if (body.transfers.length === 0) return 'no transfers'
  const rows: Record<string, unknown>[] = []
  for (const t of body.transfers) {
    rows.push({
      blob: t.sha256.slice(0, 16),
      state: t.state,
      progress: `${bar(t.progress)} ${(t.progress * 100).toFixed(0).padStart(3)}%`,
      size: t.size === undefined ? '-' : formatBytes(t.size),
      rate: `${formatBytes(t.bytesPerSecond)}/s`,
      mode: t.mode,
      sources: t.sources.length,
      started: t.startedAt ? new Date(t.startedAt).toISOString() : '-',
      note: t.error ?? (t.chunksResumed > 0 ? `resumed ${t.chunksResumed} chunks` : ''),
    })
    for (const s of t.sources) {
      rows.push({
        blob: `  ${s.kind}`,
        state: s.state + (s.reason ? ` (${s.reason})` : ''),
        progress: s.id,
        size: formatBytes(s.bytes),
        rate: s.bytesPerSecond === undefined ? '-' : `${formatBytes(s.bytesPerSecond)}/s`,
        mode: '',
        sources: `${s.chunks} chunks`,
        started: '',
        note: s.failures > 0 ? `${s.failures} failures` : '',
      })
    }
  }
  return table(rows, ['blob', 'state', 'progress', 'size', 'rate', 'mode', 'sources', 'started', 'note'])
}

/** Adds `ak transfers`. */
export function addTransfersCommand(program: Command, deps: TransfersCliDeps): void {
  withClientOptions(
    program
      .command('transfers')
      .description("a running node's swarm downloads: progress, rate and bytes per source (GET /api/v1/transfers; admin)")
      .option('--json', 'print JSON', false)
      .option('--watch', 'redraw every second until no download is active', false),
  ).action(async (opts: ClientOptions & { json: boolean; watch: boolean }, cmd: Command) => {
    const config = deps.config(cmd)
    for (;;) {
      const body = await apiCall<TransfersResponse>(config, opts, '/api/v1/transfers')
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(body, null, 2)}\n`)
        return
      }
      const text = renderTransfers(body, deps.table)
      if (!opts.watch || !process.stdout.isTTY) {
        process.stdout.write(`${text}\n`)
        if (!opts.watch || body.active === 0) return
      } else {
        process.stdout.write(`\x1b[2J\x1b[H${text}\n`)
        if (body.active === 0) return
      }
      await new Promise((r) => setTimeout(r, 1000))
    }
  })
}
