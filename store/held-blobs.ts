import type { Db } from './db.ts'

/** One digest whose holding changed, with whether the node holds it now. */
export interface HoldingChange {
  sha256: string
  held: boolean
}

export interface HoldingChanges {
  changes: HoldingChange[]
  /** Cursor to pass next time. */
  next: number
  /** Changes were lost (the feed was trimmed while nobody read it): rescan everything. */
  gap: boolean
}

/**
 * The blobs this node holds (complete bytes: a blobs row with no remote_blobs row) and the feed
 * of changes to that set (migration 083). Read-only but for trimming the feed.
 */
export interface BlobHoldings {
  holds(sha256: string): boolean
  count(): number
  /** Held digests in ascending order, after `after` ('' for the start), at most `limit`. */
  page(after: string, limit: number): string[]
  /** The newest change sequence number (0 when none). */
  head(): number
  /** Digests changed after `cursor`, deduplicated, each with its current holding. */
  changesSince(cursor: number, limit: number): HoldingChanges
  /** Drops feed rows up to and including `cursor` (they have been read). */
  trim(cursor: number): void
}

export function createBlobHoldings(db: Db): BlobHoldings {
  const holds = db.prepare('SELECT 1 FROM blobs b WHERE b.sha256 = ? AND NOT EXISTS (SELECT 1 FROM remote_blobs r WHERE r.sha256 = b.sha256)')
  const count = db.prepare('SELECT COUNT(*) AS n FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM remote_blobs r WHERE r.sha256 = b.sha256)')
  const page = db.prepare(`SELECT b.sha256 FROM blobs b WHERE b.sha256 > ?
    AND NOT EXISTS (SELECT 1 FROM remote_blobs r WHERE r.sha256 = b.sha256) ORDER BY b.sha256 LIMIT ?`)
  const head = db.prepare("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'blob_changes'), 0) AS seq")
  const since = db.prepare('SELECT seq, sha256 FROM blob_changes WHERE seq > ? ORDER BY seq LIMIT ?')
  const trim = db.prepare('DELETE FROM blob_changes WHERE seq <= ?')
  const held = (sha256: string) => holds.get(sha256) !== undefined
  return {
    holds: held,
    count: () => (count.get() as { n: number }).n,
    page: (after, limit) => (page.all(after, limit) as { sha256: string }[]).map((r) => r.sha256),
    head: () => (head.get() as { seq: number }).seq,
    changesSince(cursor, limit) {
      const rows = since.all(cursor, limit) as { seq: number; sha256: string }[]
      const first = rows[0]
      // Sequence numbers are gapless (AUTOINCREMENT, rolled back with their transaction), so a
      // first row past cursor + 1 means the bound trigger trimmed rows nobody had read.
      const gap = first !== undefined && first.seq > cursor + 1
      const seen = new Set<string>()
      const changes: HoldingChange[] = []
      for (const r of rows) {
        if (seen.has(r.sha256)) continue
        seen.add(r.sha256)
        changes.push({ sha256: r.sha256, held: held(r.sha256) })
      }
      return { changes, next: rows.length > 0 ? (rows[rows.length - 1] as { seq: number }).seq : cursor, gap }
    },
    trim: (cursor) => void trim.run(cursor),
  }
}
