import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { AkError, CHUNK_SIZE, type FormatReplicationHooks, type SignedEvent, type Store } from '../../store/index.ts'
import { verifyBy, verifyEvent } from '../../mesh/index.ts'
import { createEventApplier, replicationState } from '../../store/index.ts'
import { APPLY_BATCH_EVENTS, FRAME, SIGNATURE_BYTES } from './constants.ts'
import { BundleError } from './errors.ts'
import { BundleReader, signedMessage } from './frames.ts'
import { blobMeta, bundleHeader, eventsFrame, fromWire, type BundleHeader } from './schema.ts'

export interface ImportComponents {
  /** The target data directory's store (the caller holds the data-dir lock). */
  store: Store
  /** The formats' replication hooks, so their index tables follow the imported changes as they follow mesh sync. */
  hooks?: readonly FormatReplicationHooks[] | undefined
}

export interface ImportOptions {
  file: string
  /** Peer IDs whose bundles are accepted (--trust plus mesh.allow). */
  trust: string[]
  /** Verify everything and report what would change; store and apply nothing. @default false */
  dryRun?: boolean | undefined
  /** Called once the header is read and its signer is trusted. */
  onHeader?(header: BundleHeader, fileBytes: number): void
  /** Called with the number of bytes verified so far. */
  onProgress?(offset: number): void
}

/** At most this many paths are listed per kind of change (the counts are always exact). */
export const MAX_LISTED_CHANGES = 1000

export interface ImportResult {
  dryRun: boolean
  bundle: { peerId: string; created: string; complete: boolean; repos: string[] | null; events: number; blobs: number; bytes: number }
  events: { new: number; alreadyHeld: number }
  repositories: { created: string[]; deleted: string[] }
  artifacts: {
    added: number
    changed: number
    removed: number
    list: { added: string[]; changed: string[]; removed: string[] }
  }
  /** Blobs written to this node's store by this run (or that would be), and those it already held. */
  blobs: { stored: number; alreadyStored: number; bytesStored: number }
  state: { before: string; after: string }
}

const STAGE_SQL = `
  CREATE TEMP TABLE IF NOT EXISTS bundle_events (
    origin TEXT NOT NULL, seq INTEGER NOT NULL, hlc_ms INTEGER NOT NULL, hlc_counter INTEGER NOT NULL,
    repo TEXT NOT NULL, kind TEXT NOT NULL, path TEXT, sha256 TEXT, payload TEXT NOT NULL, signature BLOB NOT NULL, chain BLOB NOT NULL,
    PRIMARY KEY (origin, seq)) WITHOUT ROWID;
  CREATE TEMP TABLE IF NOT EXISTS bundle_blobs (
    sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, sha1 TEXT NOT NULL, md5 TEXT NOT NULL, sha512 TEXT NOT NULL,
    chunk_manifest BLOB NOT NULL, stored INTEGER NOT NULL) WITHOUT ROWID;
  DELETE FROM temp.bundle_events;
  DELETE FROM temp.bundle_blobs;`

interface StagedRow {
  origin: string
  seq: number
  hlc_ms: number
  hlc_counter: number
  repo: string
  kind: SignedEvent['kind']
  path: string | null
  sha256: string | null
  payload: string
  signature: Buffer
  chain: Buffer
}

const refuse = (code: string, message: string): never => {
  throw new BundleError(code, message)
}

/** Thrown inside the applying transaction of a dry run, so that SQLite rolls everything back. */
class DryRunRollback extends Error {
  constructor(readonly result: ImportResult) {
    super('dry run')
  }
}

/**
 * Imports a bundle in two steps. First the whole file is read once and verified: the signer is
 * trusted, every event carries its origin's signature and follows on from the one before, every
 * blob matches its digests (it is ingested then, or skipped when the store already holds it: that
 * is how a killed import resumes), and the trailer signature covers every byte. Verified events
 * wait in a TEMP table; ingested blobs have no row, so nothing references or serves them. Only
 * then, in one SQLite transaction, are the blob rows recorded and the events applied through the
 * mesh's event applier (idempotent: events already held change nothing). A dry run does the
 * same, without ingesting, and rolls the transaction back after measuring the difference.
 */
export async function importBundle(c: ImportComponents, options: ImportOptions): Promise<ImportResult> {
  const { store } = c
  const { db } = store
  const dryRun = options.dryRun ?? false
  const trusted = new Set(options.trust)
  if (trusted.size === 0) refuse('AK_BUNDLE_UNTRUSTED', 'no trusted signer: pass --trust PEER_ID (the exporting node\'s `ak mesh id`) or set mesh.allow')
  const fileBytes = (await stat(options.file).catch(() => refuse('AK_BUNDLE_MALFORMED', `cannot read ${options.file}`))).size

  db.exec(STAGE_SQL)
  const stageEvent = db.prepare(`INSERT INTO temp.bundle_events (origin, seq, hlc_ms, hlc_counter, repo, kind, path, sha256, payload, signature, chain)
    VALUES (@origin, @seq, @hlc_ms, @hlc_counter, @repo, @kind, @path, @sha256, @payload, @signature, @chain)`)
  const stageBlob = db.prepare(`INSERT INTO temp.bundle_blobs (sha256, size, sha1, md5, sha512, chunk_manifest, stored)
    VALUES (@sha256, @size, @sha1, @md5, @sha512, @chunk_manifest, @stored)`)
  const stagedBlob = db.prepare('SELECT 1 FROM temp.bundle_blobs WHERE sha256 = ?')

  const reader = new BundleReader(options.file, options.onProgress)
  let header: BundleHeader
  let events = 0
  let blobsSeen = 0
  let stored = 0
  let alreadyStored = 0
  let bytesStored = 0
  try {
    await reader.magic()
    if ((await reader.tag()) !== FRAME.header) refuse('AK_BUNDLE_MALFORMED', 'the bundle does not start with its header')
    const parsed = bundleHeader.safeParse(await reader.json('the header'))
    if (!parsed.success) return refuse('AK_BUNDLE_MALFORMED', `bad bundle header: ${parsed.error.issues[0]?.message} at ${parsed.error.issues[0]?.path.join('.')}`)
    header = parsed.data
    if (!trusted.has(header.peerId)) {
      refuse('AK_BUNDLE_UNTRUSTED', `the bundle is signed by ${header.peerId}, which is not trusted here (--trust or mesh.allow)`)
    }
    const held = store.log.versionVector()
    if (header.complete) {
      // A complete bundle continues each origin's log from its cursor: applying it over a hole
      // would leave this node claiming events it never saw (and serving a gap to its peers).
      for (const [origin, to] of Object.entries(header.to)) {
        const from = header.from[origin] ?? 0
        if (to > from && (held[origin] ?? 0) < from) {
          refuse('AK_BUNDLE_GAP', `this node holds ${origin}'s events up to #${held[origin] ?? 0}, the bundle starts after #${from}: import the bundle(s) exported before it first`)
        }
      }
    }
    options.onHeader?.(header, fileBytes)

    const last = new Map<string, number>(Object.entries(header.from))
    const lastChain = new Map<string, Uint8Array>()
    for (;;) {
      const at = reader.offset
      const tag = await reader.tag()
      if (tag === FRAME.events) {
        const frame = eventsFrame.safeParse(await reader.json('an events frame'))
        if (!frame.success) refuse('AK_BUNDLE_MALFORMED', `bad events frame at byte ${at}: ${frame.error?.issues[0]?.message}`)
        for (const w of frame.data?.events ?? []) {
          const { event: e, prev: prevChain } = fromWire(w)
          const to = header.to[e.origin]
          if (to === undefined || e.seq > to) refuse('AK_BUNDLE_EVENT', `event ${e.origin}#${e.seq} lies outside the range the header declares`)
          const prev = last.get(e.origin) ?? 0
          if (e.seq <= prev) refuse('AK_BUNDLE_EVENT', `event ${e.origin}#${e.seq} out of order (after #${prev})`)
          // The signature covers the previous event's chain value. In a complete bundle it must be the
          // chain of the event before it in the bundle, or of the one this node already holds.
          const expectedPrev = header.complete ? (lastChain.get(e.origin) ?? store.log.chainAt(e.origin, e.seq - 1)) : undefined
          if (expectedPrev && Buffer.compare(Buffer.from(expectedPrev), Buffer.from(prevChain)) !== 0) {
            refuse('AK_BUNDLE_EVENT', `event ${e.origin}#${e.seq} does not continue its origin's hash chain: the bundle was altered or is not contiguous`)
          }
          let chain: Uint8Array = prevChain
          try {
            chain = verifyEvent(e, header.complete ? prev + 1 : e.seq, prevChain)
          } catch (err) {
            refuse('AK_BUNDLE_EVENT', `${(err as Error).message}: the bundle was altered or is not contiguous`)
          }
          last.set(e.origin, e.seq)
          lastChain.set(e.origin, chain)
          stageEvent.run({
            origin: e.origin,
            seq: e.seq,
            hlc_ms: e.hlc.ms,
            hlc_counter: e.hlc.counter,
            repo: e.repo,
            kind: e.kind,
            path: e.path,
            sha256: e.sha256,
            payload: e.payload,
            signature: Buffer.from(e.signature as Uint8Array),
            chain: Buffer.from(chain),
          })
          events++
        }
      } else if (tag === FRAME.blob) {
        const m = blobMeta.safeParse(await reader.json('a blob header'))
        if (!m.success) return refuse('AK_BUNDLE_MALFORMED', `bad blob header at byte ${at}: ${m.error.issues[0]?.message}`)
        const meta = m.data
        if (stagedBlob.get(meta.sha256)) refuse('AK_BUNDLE_MALFORMED', `blob ${meta.sha256} appears twice`)
        const existing = await store.blobs.stat(meta.sha256)
        let storedNow = false
        if ((existing && existing.size === meta.size) || dryRun) {
          // Already stored (an earlier, interrupted import) or a dry run: check the bytes, write nothing.
          const h = createHash('sha256')
          let size = 0
          for await (const chunk of reader.stream(meta.size, `blob ${meta.sha256}`)) {
            h.update(chunk)
            size += chunk.length
          }
          if (size !== meta.size || h.digest('hex') !== meta.sha256) refuse('AK_BUNDLE_DIGEST', `blob ${meta.sha256} in the bundle does not match its sha256`)
          if (existing) alreadyStored++
          else {
            stored++
            bytesStored += meta.size
          }
        } else {
          try {
            const d = await store.blobs.ingest(Readable.from(reader.stream(meta.size, `blob ${meta.sha256}`), { objectMode: false }), {
              expectedSize: meta.size,
              expected: { sha256: meta.sha256, sha1: meta.sha1, md5: meta.md5 },
            })
            if (d.sha512 !== meta.sha512 || d.chunkManifest.toString('hex') !== meta.chunkManifest) {
              refuse('AK_BUNDLE_DIGEST', `blob ${meta.sha256}: sha512 or chunk manifest differs from the bundle's record`)
            }
          } catch (err) {
            if (err instanceof BundleError) throw err
            if (err instanceof AkError) refuse('AK_BUNDLE_DIGEST', `blob ${meta.sha256} in the bundle does not match its digests: ${err.message}`)
            throw err
          }
          storedNow = true
          stored++
          bytesStored += meta.size
        }
        stageBlob.run({
          sha256: meta.sha256,
          size: meta.size,
          sha1: meta.sha1,
          md5: meta.md5,
          sha512: meta.sha512,
          chunk_manifest: Buffer.from(meta.chunkManifest, 'hex'),
          stored: storedNow ? 1 : 0,
        })
        blobsSeen++
      } else if (tag === FRAME.signature) {
        const digest = reader.digest()
        const signature = await reader.exact(SIGNATURE_BYTES, 'the trailer signature')
        if (!(await reader.atEnd())) refuse('AK_BUNDLE_MALFORMED', 'bytes follow the trailer signature')
        if (!verifyBy(header.peerId, signedMessage(digest), signature)) {
          refuse('AK_BUNDLE_SIGNATURE', `the trailer signature does not match the contents: the bundle was altered after ${header.peerId} signed it`)
        }
        break
      } else {
        refuse('AK_BUNDLE_MALFORMED', `unknown frame tag 0x${tag.toString(16)} at byte ${at}`)
      }
    }
    if (events !== header.counts.events || blobsSeen !== header.counts.blobs) {
      refuse('AK_BUNDLE_MALFORMED', `the bundle holds ${events} events and ${blobsSeen} blobs, its header says ${header.counts.events} and ${header.counts.blobs}`)
    }
    if (header.complete) {
      for (const [origin, to] of Object.entries(header.to)) {
        if (to > (header.from[origin] ?? 0) && (last.get(origin) ?? 0) !== to) {
          refuse('AK_BUNDLE_EVENT', `events of ${origin} end at #${last.get(origin) ?? 0}, the header says #${to}`)
        }
      }
    }
  } finally {
    await reader.close()
  }

  const result: ImportResult = {
    dryRun,
    bundle: {
      peerId: header.peerId,
      created: header.created,
      complete: header.complete,
      repos: header.repos,
      events,
      blobs: blobsSeen,
      bytes: fileBytes,
    },
    events: { new: 0, alreadyHeld: 0 },
    repositories: { created: [], deleted: [] },
    artifacts: { added: 0, changed: 0, removed: 0, list: { added: [], changed: [], removed: [] } },
    blobs: { stored, alreadyStored, bytesStored },
    state: { before: '', after: '' },
  }
  try {
    applyStaged(store, c.hooks, result, dryRun)
  } catch (err) {
    if (err instanceof DryRunRollback) return err.result
    throw err
  } finally {
    db.exec('DELETE FROM temp.bundle_events; DELETE FROM temp.bundle_blobs;')
  }
  return result
}

/** Records the blob rows and applies the staged events in one transaction (rolled back for a dry run). */
function applyStaged(store: Store, hooks: readonly FormatReplicationHooks[] | undefined, result: ImportResult, dryRun: boolean): void {
  const { db, log } = store
  const applier = createEventApplier(db, log, { hooks })
  const repoPage = db.prepare(`SELECT * FROM temp.bundle_events WHERE kind LIKE 'repo.%' ORDER BY hlc_ms, hlc_counter, origin, seq`)
  const artifactPage = db.prepare(`SELECT * FROM temp.bundle_events WHERE kind NOT LIKE 'repo.%'
    AND (origin > @origin OR (origin = @origin AND seq > @seq)) ORDER BY origin, seq LIMIT @limit`)
  const paths = db.prepare('SELECT DISTINCT repo, path FROM temp.bundle_events WHERE path IS NOT NULL').all() as { repo: string; path: string }[]
  const repos = (db.prepare('SELECT DISTINCT repo FROM temp.bundle_events').all() as { repo: string }[]).map((r) => r.repo)
  const artifactSha = db.prepare('SELECT sha256 FROM artifacts WHERE repo = ? AND path = ?')
  const repoExists = db.prepare('SELECT 1 FROM repositories WHERE key = ?')
  const artifactCount = db.prepare('SELECT COUNT(*) AS n FROM artifacts WHERE repo = ?')
  const toSigned = (r: StagedRow): SignedEvent => ({
    origin: r.origin,
    seq: r.seq,
    hlc: { ms: r.hlc_ms, counter: r.hlc_counter },
    repo: r.repo,
    kind: r.kind,
    path: r.path,
    sha256: r.sha256,
    payload: r.payload,
    signature: new Uint8Array(r.signature),
    chain: new Uint8Array(r.chain),
  })
  const pathKey = (p: { repo: string; path: string }) => `${p.repo}/${p.path}`
  const list = (into: string[], value: string) => {
    if (into.length < MAX_LISTED_CHANGES) into.push(value)
  }

  db.transaction(() => {
    result.state.before = replicationState(db, log).hash
    const beforeSha = new Map(paths.map((p) => [pathKey(p), (artifactSha.get(p.repo, p.path) as { sha256: string } | undefined)?.sha256]))
    const beforeRepos = new Map(repos.map((r) => [r, repoExists.get(r) ? (artifactCount.get(r) as { n: number }).n : -1]))

    db.prepare(`INSERT OR IGNORE INTO blobs (sha256, size, sha1, md5, sha512, chunk_size, chunk_manifest, created_at, touched_at)
      SELECT sha256, size, sha1, md5, sha512, ${CHUNK_SIZE}, chunk_manifest, @now, @now FROM temp.bundle_blobs`).run({ now: Date.now() })
    // Repository events first: an artifact event of a repository another origin created is
    // applied only once that repository exists here.
    let added = applier.apply((repoPage.all() as StagedRow[]).map(toSigned))
    let cursor = { origin: '', seq: 0 }
    for (;;) {
      const page = artifactPage.all({ ...cursor, limit: APPLY_BATCH_EVENTS }) as StagedRow[]
      if (page.length === 0) break
      added += applier.apply(page.map(toSigned))
      const end = page[page.length - 1] as StagedRow
      cursor = { origin: end.origin, seq: end.seq }
    }
    // The bytes of these blobs are here now: they are no longer waiting for the swarm.
    db.prepare('DELETE FROM remote_blobs WHERE sha256 IN (SELECT sha256 FROM temp.bundle_blobs)').run()
    result.events = { new: added, alreadyHeld: result.bundle.events - added }

    for (const [repo, count] of beforeRepos) {
      const now = repoExists.get(repo) !== undefined
      if (count < 0 && now) result.repositories.created.push(repo)
      if (count >= 0 && !now) {
        result.repositories.deleted.push(repo)
        result.artifacts.removed += count
      }
    }
    for (const p of paths) {
      const key = pathKey(p)
      const before = beforeSha.get(key)
      const after = (artifactSha.get(p.repo, p.path) as { sha256: string } | undefined)?.sha256
      if (before === after) continue
      if (!before) {
        result.artifacts.added++
        list(result.artifacts.list.added, key)
      } else if (!after) {
        if (!result.repositories.deleted.includes(p.repo)) result.artifacts.removed++
        list(result.artifacts.list.removed, key)
      } else {
        result.artifacts.changed++
        list(result.artifacts.list.changed, key)
      }
    }
    result.state.after = replicationState(db, log).hash
    if (dryRun) throw new DryRunRollback(result)
  })()
}
