import type { Db } from './db.ts'

/**
 * Blobs the metadata knows from a replicated event but whose bytes are elsewhere: a blob row plus
 * a remote_blobs row. The swarm fetches them (eager repositories) or opens them on first read
 * (lazy ones); once the bytes are here, by download, upload or bundle, the row goes.
 */
export interface RemoteBlobs {
  /** Whether the blob's bytes are known to be elsewhere (not held here). */
  has(sha256: string): boolean
  /** Records that `origin` holds the blob's bytes and this node does not (its blob row exists). */
  record(sha256: string, origin: string, now?: number): boolean
  /** The bytes are here now (an upload or a local copy): the blob is no longer remote. */
  forget(sha256: string): void
  /**
   * A download of the blob verified and committed: forget it as remote and, when given, store
   * the chunk manifest it was verified against (a row from an event that carried none learns it).
   */
  arrived(sha256: string, chunkManifest?: Buffer): void
}

export function createRemoteBlobs(db: Db): RemoteBlobs {
  const has = db.prepare('SELECT 1 FROM remote_blobs WHERE sha256 = ?')
  const insert = db.prepare('INSERT OR IGNORE INTO remote_blobs (sha256, origin, recorded_at) VALUES (?, ?, ?)')
  const forget = db.prepare('DELETE FROM remote_blobs WHERE sha256 = ?')
  const setManifest = db.prepare('UPDATE blobs SET chunk_manifest = ? WHERE sha256 = ?')
  const arrived = db.transaction((sha256: string, manifest: Buffer | undefined) => {
    forget.run(sha256)
    if (manifest) setManifest.run(manifest, sha256)
  })
  return {
    has: (sha256) => has.get(sha256) !== undefined,
    record: (sha256, origin, now = Date.now()) => insert.run(sha256, origin, now).changes > 0,
    forget: (sha256) => void forget.run(sha256),
    arrived: (sha256, manifest) => arrived(sha256, manifest),
  }
}
