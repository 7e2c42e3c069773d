import type { Db } from './db.ts'

/** A smoothed round-trip time (the mesh's ewma.ts computes it). */
export interface StoredRtt {
  rttMs: number
  jitterMs: number
  samples: number
}

/** A smoothed throughput (the mesh's ewma.ts computes it). */
export interface StoredThroughput {
  bytesPerSecond: number
  samples: number
}

/** The transports a peer's throughput is measured on separately. */
export type TransferKind = 'libp2p' | 'http'
export const TRANSFER_KINDS: readonly TransferKind[] = ['libp2p', 'http']

/** What this node measured of one peer (the persisted part of a profile). */
export interface StoredProfile {
  peerId: string
  addresses: string[]
  labels: Record<string, string>
  rtt: StoredRtt | undefined
  throughput: Partial<Record<TransferKind, StoredThroughput>>
  /** Failures by kind (the scheduler's SourceFailure names). */
  failures: Partial<Record<string, number>>
  /** Unix ms of the last ping answer, connection or transfer. */
  lastSeen: number | undefined
  updatedAt: number
}

interface Row {
  peer_id: string
  addresses: string
  labels: string
  rtt_ms: number | null
  jitter_ms: number | null
  rtt_samples: number
  libp2p_bps: number | null
  libp2p_samples: number
  http_bps: number | null
  http_samples: number
  failures: string
  last_seen: number | null
  updated_at: number
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    const v = JSON.parse(text) as unknown
    return v !== null && typeof v === 'object' ? (v as T) : fallback
  } catch {
    return fallback
  }
}

function throughputOf(bps: number | null, samples: number): StoredThroughput | undefined {
  return bps === null ? undefined : { bytesPerSecond: bps, samples }
}

/** What this node measured of its peers, kept across restarts: the peer_profiles table (migration 082). */
export interface ProfileStore {
  loadAll(): StoredProfile[]
  /** Upserts the given profiles in one transaction. */
  save(profiles: StoredProfile[]): void
}

export function createProfileStore(db: Db): ProfileStore {
  const all = db.prepare('SELECT * FROM peer_profiles')
  const upsert = db.prepare(`
    INSERT INTO peer_profiles (peer_id, addresses, labels, rtt_ms, jitter_ms, rtt_samples, libp2p_bps, libp2p_samples,
                               http_bps, http_samples, failures, last_seen, updated_at)
    VALUES (@peer_id, @addresses, @labels, @rtt_ms, @jitter_ms, @rtt_samples, @libp2p_bps, @libp2p_samples,
            @http_bps, @http_samples, @failures, @last_seen, @updated_at)
    ON CONFLICT (peer_id) DO UPDATE SET
      addresses = excluded.addresses, labels = excluded.labels, rtt_ms = excluded.rtt_ms, jitter_ms = excluded.jitter_ms,
      rtt_samples = excluded.rtt_samples, libp2p_bps = excluded.libp2p_bps, libp2p_samples = excluded.libp2p_samples,
      http_bps = excluded.http_bps, http_samples = excluded.http_samples, failures = excluded.failures,
      last_seen = excluded.last_seen, updated_at = excluded.updated_at`)
  const saveAll = db.transaction((rows: Row[]) => {
    for (const r of rows) upsert.run(r)
  })
  return {
    loadAll() {
      return (all.all() as Row[]).map((r) => ({
        peerId: r.peer_id,
        addresses: parseJson<string[]>(r.addresses, []).filter((a) => typeof a === 'string'),
        labels: parseJson<Record<string, string>>(r.labels, {}),
        rtt: r.rtt_ms === null ? undefined : { rttMs: r.rtt_ms, jitterMs: r.jitter_ms ?? 0, samples: r.rtt_samples },
        throughput: {
          ...(r.libp2p_bps === null ? {} : { libp2p: throughputOf(r.libp2p_bps, r.libp2p_samples) }),
          ...(r.http_bps === null ? {} : { http: throughputOf(r.http_bps, r.http_samples) }),
        },
        failures: parseJson<Partial<Record<string, number>>>(r.failures, {}),
        lastSeen: r.last_seen ?? undefined,
        updatedAt: r.updated_at,
      }))
    },
    save(profiles) {
      saveAll(
        profiles.map((p) => ({
          peer_id: p.peerId,
          addresses: JSON.stringify(p.addresses),
          labels: JSON.stringify(p.labels),
          rtt_ms: p.rtt?.rttMs ?? null,
          jitter_ms: p.rtt?.jitterMs ?? null,
          rtt_samples: p.rtt?.samples ?? 0,
          libp2p_bps: p.throughput.libp2p?.bytesPerSecond ?? null,
          libp2p_samples: p.throughput.libp2p?.samples ?? 0,
          http_bps: p.throughput.http?.bytesPerSecond ?? null,
          http_samples: p.throughput.http?.samples ?? 0,
          failures: JSON.stringify(p.failures),
          last_seen: p.lastSeen ?? null,
          updated_at: p.updatedAt,
        })),
      )
    },
  }
}
