import type { BlobStore } from './blob-store.ts'
import type { BlobIndex } from './blob-index.ts'
import type { Db } from './db.ts'
import type { ArtifactStore } from './artifacts.ts'

export interface FsckProblem {
  kind: 'blob-missing' | 'blob-corrupt' | 'blob-size' | 'artifact-dangling' | 'artifact-size'
  sha256: string
  repo?: string
  path?: string
  detail: string
}

export interface FsckReport {
  blobsChecked: number
  artifactsChecked: number
  bytesVerified: number
  problems: FsckProblem[]
  /** Stored objects no metadata row knows of (leftovers of crashed uploads); gc removes them. */
  orphanObjects: number
  repaired: { artifactsRemoved: number; blobsForgotten: number; objectsDeleted: number } | undefined
}

export interface FsckOptions {
  repair?: boolean
  /** Skip rehashing (only existence and size). @default false */
  quick?: boolean
  onProgress?: (done: number, total: number) => void
}

/**
 * Verifies every blob row against the stored bytes (all four digests and the chunk manifest)
 * and every artifact against its blob. With `repair`, artifacts whose bytes are gone or wrong
 * are removed (with delete events) so nothing ever serves wrong bytes, corrupt objects are
 * deleted, and their rows forgotten.
 */
export async function fsck(
  db: Db,
  blobs: BlobStore,
  index: BlobIndex,
  artifacts: ArtifactStore,
  options: FsckOptions = {},
): Promise<FsckReport> {
  const problems: FsckProblem[] = []
  const records = [...index.all()]
  const known = new Set(records.map((r) => r.sha256))
  const bad = new Set<string>()
  let bytesVerified = 0
  let done = 0
  const awaited = new Set(
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'remote_blobs'").get()
      ? (db.prepare('SELECT sha256 FROM remote_blobs').all() as { sha256: string }[])
      : []
    ).map((r) => r.sha256),
  )
  for (const rec of records) {
    const obj = await blobs.stat(rec.sha256)
    if (!obj && awaited.has(rec.sha256)) {
      // Metadata that came by replication; the bytes are still to be fetched: expected, and
      // never "repaired" away (that would delete the artifact on every node).
    } else if (!obj) {
      problems.push({ kind: 'blob-missing', sha256: rec.sha256, detail: 'metadata lists the blob but the store has no bytes' })
      bad.add(rec.sha256)
    } else if (obj.size !== rec.size) {
      problems.push({ kind: 'blob-size', sha256: rec.sha256, detail: `stored ${obj.size} bytes, expected ${rec.size}` })
      bad.add(rec.sha256)
    } else if (!options.quick) {
      const d = await blobs.rehash(rec.sha256)
      bytesVerified += d.size
      const wrong = (['sha256', 'sha1', 'md5', 'sha512'] as const).filter((a) => d[a] !== rec[a])
      if (wrong.length > 0 || !d.chunkManifest.equals(rec.chunkManifest)) {
        problems.push({
          kind: 'blob-corrupt',
          sha256: rec.sha256,
          detail: wrong.length ? `stored bytes hash to a different ${wrong.join(', ')}` : 'chunk manifest differs',
        })
        bad.add(rec.sha256)
      }
    }
    options.onProgress?.(++done, records.length)
  }

  const rows = db.prepare('SELECT repo, path, sha256, size FROM artifacts').all() as {
    repo: string
    path: string
    sha256: string
    size: number
  }[]
  const sizes = new Map(records.map((r) => [r.sha256, r.size]))
  const affected: { repo: string; path: string }[] = []
  for (const a of rows) {
    if (!known.has(a.sha256)) {
      problems.push({ kind: 'artifact-dangling', sha256: a.sha256, repo: a.repo, path: a.path, detail: 'artifact points at an unknown blob' })
      affected.push(a)
    } else if (sizes.get(a.sha256) !== a.size) {
      problems.push({ kind: 'artifact-size', sha256: a.sha256, repo: a.repo, path: a.path, detail: 'artifact size differs from its blob' })
      affected.push(a)
    } else if (bad.has(a.sha256)) {
      affected.push(a)
    }
  }

  let orphanObjects = 0
  for await (const o of blobs.list()) if (!known.has(o.key)) orphanObjects++

  let repaired: FsckReport['repaired']
  if (options.repair) {
    repaired = { artifactsRemoved: 0, blobsForgotten: 0, objectsDeleted: 0 }
    for (const a of affected) if (artifacts.delete(a.repo, a.path, 'fsck')) repaired.artifactsRemoved++
    for (const sha of bad) {
      if ((await blobs.stat(sha)) !== undefined) {
        await blobs.delete(sha)
        repaired.objectsDeleted++
      }
      index.forget(sha)
      repaired.blobsForgotten++
    }
  }
  return { blobsChecked: records.length, artifactsChecked: rows.length, bytesVerified, problems, orphanObjects, repaired }
}

export interface GcOptions {
  /** Unreferenced blobs touched less than this many ms ago are kept. */
  graceMs: number
  dryRun?: boolean
  now?: number
}

export interface GcReport {
  blobsDeleted: number
  bytesFreed: number
  orphanObjectsDeleted: number
  dryRun: boolean
}

/**
 * Deletes blobs no artifact references, once their grace period is over. The row goes first
 * (in a statement that re-checks for references), the bytes second, so a blob an upload is
 * about to reference is never lost: ingest refreshes touched_at, and a fresh object without a
 * row (an upload between rename and commit) is younger than the grace period.
 */
export async function gc(blobs: BlobStore, index: BlobIndex, options: GcOptions): Promise<GcReport> {
  const before = (options.now ?? Date.now()) - options.graceMs
  const report: GcReport = { blobsDeleted: 0, bytesFreed: 0, orphanObjectsDeleted: 0, dryRun: options.dryRun ?? false }
  for (;;) {
    const batch = index.unreferenced(before, 500)
    if (batch.length === 0) break
    for (const rec of batch) {
      if (report.dryRun) {
        report.blobsDeleted++
        report.bytesFreed += rec.size
        continue
      }
      if (!index.forgetIfUnreferenced(rec.sha256, before)) continue
      await blobs.delete(rec.sha256)
      report.blobsDeleted++
      report.bytesFreed += rec.size
    }
    if (report.dryRun) break
  }
  const orphans: { key: string; size: number }[] = []
  for await (const o of blobs.list()) {
    if (o.mtimeMs < before && !index.get(o.key)) orphans.push(o)
  }
  for (const o of orphans) {
    // Re-check: a commit may have recorded it meanwhile.
    if (index.get(o.key)) continue
    if (!report.dryRun) await blobs.delete(o.key)
    report.orphanObjectsDeleted++
    report.bytesFreed += o.size
  }
  return report
}
