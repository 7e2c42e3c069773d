/* `ak mesh peers`: the peer profiles of a running node (GET /api/v1/mesh/peers), as a table or JSON. */
import type { Command } from 'commander'
import type { Config } from './config.ts'
import { apiCall, withClientOptions, type ClientOptions } from './cli-client.ts'

/** The wire shape of GET /api/v1/mesh/peers (mesh/profiles PeerProfileView). */
export interface PeersResponse {
  enabled: boolean
  peers: {
    peerId: string
    connected: boolean
    addresses: string[]
    labels: Record<string, string>
    rttMs: number | null
    jitterMs: number | null
    rttSamples: number
    throughput: Record<string, { bytesPerSecond: number; samples: number } | null>
    load: number | null
    failures: Record<string, number>
    penalty?: { score: number; banned: boolean }
    lastSeen: number | null
  }[]
}

export interface MeshPeersCliDeps {
  config: (cmd: Command) => Config
  table: (rows: Record<string, unknown>[], columns: string[]) => string
}

const ms = (v: number | null) => (v === null ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1))

function rate(t: { bytesPerSecond: number } | null | undefined): string {
  if (!t) return '-'
  const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s']
  let v = t.bytesPerSecond
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

function age(at: number | null, now = Date.now()): string {
  if (at === null) return 'never'
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 120) return `${s}s ago`
  if (s < 7200) return `${Math.round(s / 60)}m ago`
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`
  return `${Math.round(s / 86_400)}d ago`
}

/** Adds `peers` under `ak mesh`. */
export function addMeshPeersCommand(mesh: Command, deps: MeshPeersCliDeps): void {
  withClientOptions(
    mesh
      .command('peers')
      .description("a running node's peer profiles: RTT, jitter, throughput, load, failures (GET /api/v1/mesh/peers; admin)")
      .option('--json', 'print JSON', false),
  ).action(async (opts: ClientOptions & { json: boolean }, cmd: Command) => {
    const body = await apiCall<PeersResponse>(deps.config(cmd), opts, '/api/v1/mesh/peers')
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`)
      return
    }
    if (!body.enabled) {
      process.stdout.write('the mesh is off on this node\n')
      return
    }
    const rows = body.peers.map((p) => ({
      peer: p.peerId,
      state: p.penalty?.banned ? 'banned' : p.connected ? 'connected' : 'gone',
      labels: Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
      'rtt ms': ms(p.rttMs),
      'jitter ms': ms(p.jitterMs),
      pings: p.rttSamples,
      libp2p: rate(p.throughput.libp2p),
      http: rate(p.throughput.http),
      load: p.load ?? '-',
      failures: Object.entries(p.failures).filter(([, n]) => n > 0).map(([r, n]) => `${r}:${n}`).join(',') || '-',
      seen: age(p.lastSeen),
      // The peer ID is the first column already.
      address: (p.addresses[0] ?? '-').replace(/\/p2p\/[^/]+$/, ''),
    }))
    process.stdout.write(
      rows.length === 0
        ? 'no peers known yet\n'
        : `${deps.table(rows, ['peer', 'state', 'labels', 'rtt ms', 'jitter ms', 'pings', 'libp2p', 'http', 'load', 'failures', 'seen', 'address'])}\n`,
    )
  })
}
