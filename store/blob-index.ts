import type { Db } from './db.ts'
import type { BlobDigests } from './digests.ts'
import { CHUNK_SIZE } from './constants.ts'

export interface BlobRecord extends BlobDigests {
  chunkSize: number
  createdAt: number
  touchedAt: number
}

interface BlobRow {
  sha256: string
  size: number
  sha1: string
  md5: string
  sha512: string
  chunk_size: number
  chunk_manifest: Buffer
  created_at: number
  touched_at: number
}

function fromRow(r: BlobRow): BlobRecord {
  return {
    sha256: r.sha256,
    size: r.size,
    sha1: r.sha1,
    md5: r.md5,
    sha512: r.sha512,
    chunkSize: r.chunk_size,
    chunkManifest: r.chunk_manifest,
    createdAt: r.created_at,
    touchedAt: r.touched_at,
  }
}

/** The blobs the metadata knows: digests, chunk manifest, and whether anything references them. */
export interface BlobIndex {
  get(sha256: string): BlobRecord | undefined
  /** Records the blob (or refreshes touched_at). Call inside the transaction that references it. */
  record(digests: BlobDigests): void
  /** Blobs no artifact references whose touched_at is older than `before`. */
  unreferenced(before: number, limit: number): BlobRecord[]
  /** Deletes the row if still unreferenced and untouched since `before`; true when deleted. */
  forgetIfUnreferenced(sha256: string, before: number): boolean
  forget(sha256: string): void
  all(): IterableIterator<BlobRecord>
  totals(): { count: number; bytes: number }
}

export function createBlobIndex(db: Db): BlobIndex {
  const get = db.prepare('SELECT * FROM blobs WHERE sha256 = ?')
  const insert = db.prepare(`INSERT INTO blobs (sha256, size, sha1, md5, sha512, chunk_size, chunk_manifest, created_at, touched_at)
    VALUES (@sha256, @size, @sha1, @md5, @sha512, @chunk_size, @chunk_manifest, @now, @now)
    ON CONFLICT (sha256) DO UPDATE SET touched_at = excluded.touched_at`)
  const unreferenced = db.prepare(`SELECT b.* FROM blobs b WHERE b.touched_at < ?
      AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.sha256 = b.sha256) LIMIT ?`)
  const forgetIf = db.prepare(`DELETE FROM blobs WHERE sha256 = ? AND touched_at < ?
      AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.sha256 = blobs.sha256)`)
  const forget = db.prepare('DELETE FROM blobs WHERE sha256 = ?')
  const all = db.prepare('SELECT * FROM blobs')
  const totals = db.prepare('SELECT COUNT(*) AS count, COALESCE(SUM(size), 0) AS bytes FROM blobs')
  return {
    get: (sha256) => {
      const r = get.get(sha256) as BlobRow | undefined
      return r ? fromRow(r) : undefined
    },
    record: (d) => {
      insert.run({
        sha256: d.sha256,
        size: d.size,
        sha1: d.sha1,
        md5: d.md5,
        sha512: d.sha512,
        chunk_size: CHUNK_SIZE,
        chunk_manifest: d.chunkManifest,
        now: Date.now(),
      })
    },
    unreferenced: (before, limit) => (unreferenced.all(before, limit) as BlobRow[]).map(fromRow),
    forgetIfUnreferenced: (sha256, before) => forgetIf.run(sha256, before).changes > 0,
    forget: (sha256) => void forget.run(sha256),
    *all() {
      for (const r of all.iterate() as IterableIterator<BlobRow>) yield fromRow(r)
    },
    totals: () => totals.get() as { count: number; bytes: number },
  }
}
