/*
 * The chunk manifest of one download: the trusted one of a blob row (it came in a signed
 * event), a previous run's persisted one, or one a source offers (checked against the whole
 * blob's sha256 at the end; the source that offered it is blamed if it lied).
 */
import { chunkCount, CHUNK_DIGEST_BYTES, CHUNK_SIZE, StorageError, type BlobRecord } from '../store/index.ts'
import { raceAbort, type DownloadRun } from './download-context.ts'
import type { SourceSet, SourceState } from './download-sources.ts'
import { readPersistedManifest } from './partial.ts'
import { SourceError, type ChunkManifest } from './types.ts'

/** The manifest in a blob row, when the row carries a complete one (it came in a signed event). */
export function trustedManifest(row: BlobRecord | undefined): ChunkManifest | undefined {
  if (!row) return undefined
  const n = chunkCount(row.size)
  if (row.chunkManifest.length !== n * CHUNK_DIGEST_BYTES) return undefined
  const chunks: string[] = []
  for (let i = 0; i < n; i++) chunks.push(row.chunkManifest.subarray(i * CHUNK_DIGEST_BYTES, (i + 1) * CHUNK_DIGEST_BYTES).toString('hex'))
  return { sha256: row.sha256, size: row.size, chunkSize: CHUNK_SIZE, chunks }
}

function validManifest(m: ChunkManifest | undefined, sha256: string, size: number | undefined): m is ChunkManifest {
  return (
    m !== undefined &&
    m.sha256 === sha256 &&
    Number.isSafeInteger(m.size) &&
    m.size >= 0 &&
    (size === undefined || m.size === size) &&
    m.chunkSize === CHUNK_SIZE &&
    Array.isArray(m.chunks) &&
    m.chunks.length === chunkCount(m.size) &&
    m.chunks.every((c) => typeof c === 'string' && /^[a-f0-9]{64}$/.test(c))
  )
}

export interface ResolvedManifest {
  manifest: ChunkManifest
  /** From the blob row: every chunk verified against it determines the blob. */
  trusted: boolean
  /** The source that offered it, when one did. */
  source?: SourceState
}

/** The trusted manifest (blob row), a previous run's, or one a source offers (checked at the end). */
export async function resolveManifest(
  run: DownloadRun,
  row: BlobRecord | undefined,
  sources: SourceSet,
  waitChange: (ms: number) => Promise<void>,
): Promise<ResolvedManifest> {
  const trusted = trustedManifest(row)
  if (trusted) return { manifest: trusted, trusted: true }
  const persisted = await readPersistedManifest(run.c.partialDir, run.sha256)
  if (validManifest(persisted, run.sha256, row?.size)) return { manifest: persisted, trusted: false }
  const deadline = Date.now() + run.c.tuning.noSourceTimeoutMs
  const asked = new Set<string>()
  for (;;) {
    if (run.signal.aborted) throw run.signal.reason
    const candidates = [...sources.values()].filter((s) => s.state === 'active' && !asked.has(s.source.id))
    // Holders first: a source that has the blob is likelier to know its manifest.
    candidates.sort((a, b) => Number(b.have !== undefined) - Number(a.have !== undefined))
    for (const s of candidates) {
      asked.add(s.source.id)
      try {
        const m = await raceAbort(s.source.manifest(run.sha256, sources.querySignal()), sources.querySignal())
        if (validManifest(m, run.sha256, row?.size)) {
          return { manifest: { sha256: m.sha256, size: m.size, chunkSize: m.chunkSize, chunks: [...m.chunks] }, trusted: false, source: s }
        }
      } catch (err) {
        if (run.signal.aborted) throw run.signal.reason
        sources.failed(s, err instanceof SourceError ? err.reason : 'error', err)
      }
    }
    if (Date.now() > deadline) throw new StorageError(`no source offers the manifest of blob ${run.sha256}`, { sha256: run.sha256, noSource: true })
    await waitChange(Math.min(run.c.tuning.havePollMs, 250))
    await sources.refreshDirectory()
    // Sources may learn the blob later (a partial holder): ask everyone again next round.
    if ([...sources.values()].every((s) => asked.has(s.source.id))) asked.clear()
  }
}
