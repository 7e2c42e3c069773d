/* Transfer info: what `ak transfers` and GET /api/v1/transfers show of one download. */
import type { SourceState } from './download-sources.ts'
import type { Transfer, TransferSource } from './options.ts'
import type { PartialFile } from './partial.ts'
import type { ChunkManifest } from './types.ts'

/** The facts of one download that its transfer info reports. */
export interface DownloadFacts {
  sha256: string
  state: Transfer['state']
  manifest: ChunkManifest | undefined
  partial: PartialFile | undefined
  sources: Iterable<SourceState>
  resumed: number
  fetched: number
  readers: number
  startedAt: number | undefined
  finishedAt: number | undefined
  error: Error | undefined
}

export function transferInfo(d: DownloadFacts): Transfer {
  const m = d.manifest
  const partial = d.partial
  const chunks = m?.chunks.length ?? 0
  const chunksHave = d.state === 'done' ? chunks : (partial?.verified ?? 0)
  const bytesHave = d.state === 'done' ? (m?.size ?? 0) : (partial?.bytesHeld() ?? 0)
  const elapsed = ((d.finishedAt ?? Date.now()) - (d.startedAt ?? Date.now())) / 1000
  const sources: TransferSource[] = [...d.sources].map((s) => ({
    id: s.source.id,
    kind: s.source.kind,
    ...(s.source.peerId !== undefined ? { peerId: s.source.peerId } : {}),
    bytes: s.bytes,
    chunks: s.chunks,
    failures: s.failures,
    state: s.state,
    ...(s.backoffs > 0 ? { backoffs: s.backoffs } : {}),
    ...(s.readmitted > 0 ? { readmitted: s.readmitted } : {}),
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.rate !== undefined ? { bytesPerSecond: Math.round(s.rate) } : {}),
  }))
  return {
    sha256: d.sha256,
    ...(m ? { size: m.size } : {}),
    state: d.state,
    mode: d.readers > 0 ? 'in-order' : 'rarest-first',
    chunks,
    chunksHave,
    chunksResumed: d.resumed,
    bytesHave,
    bytesFetched: d.fetched,
    progress: chunks === 0 ? (d.state === 'done' ? 1 : 0) : chunksHave / chunks,
    bytesPerSecond: elapsed > 0 ? Math.round(d.fetched / elapsed) : 0,
    readers: d.readers,
    ...(d.startedAt !== undefined ? { startedAt: d.startedAt } : {}),
    ...(d.finishedAt !== undefined ? { finishedAt: d.finishedAt } : {}),
    ...(d.error ? { error: d.error.message } : {}),
    sources,
  }
}
