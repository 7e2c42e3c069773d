import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { AkError, MAX_LISTED_CHANGES, type FormatReplicationHooks, type Store } from '../../store/index.ts'
import { verifyBy, verifyEvent } from '../../mesh/index.ts'
import { FRAME, SIGNATURE_BYTES } from './constants.ts'
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

export { MAX_LISTED_CHANGES }

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

const refuse = (code: string, message: string): never => {
  throw new BundleError(code, message)
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
  const dryRun = options.dryRun ?? false
  const trusted = new Set(options.trust)
  if (trusted.size === 0) refuse('AK_BUNDLE_UNTRUSTED', 'no trusted signer: pass --trust PEER_ID (the exporting node\'s `ak mesh id`) or set mesh.allow')
  const fileBytes = (await stat(options.file).catch(() => refuse('AK_BUNDLE_MALFORMED', `cannot read ${options.file}`))).size

  const staged = store.replicated.stageImport()

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
          staged.event({ ...e, chain })
          events++
        }
      } else if (tag === FRAME.blob) {
        const m = blobMeta.safeParse(await reader.json('a blob header'))
        if (!m.success) return refuse('AK_BUNDLE_MALFORMED', `bad blob header at byte ${at}: ${m.error.issues[0]?.message}`)
        const meta = m.data
        if (staged.hasBlob(meta.sha256)) refuse('AK_BUNDLE_MALFORMED', `blob ${meta.sha256} appears twice`)
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
        staged.blob({
          sha256: meta.sha256,
          size: meta.size,
          sha1: meta.sha1,
          md5: meta.md5,
          sha512: meta.sha512,
          chunkManifest: Buffer.from(meta.chunkManifest, 'hex'),
          stored: storedNow,
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
    const outcome = staged.apply({ hooks: c.hooks, dryRun })
    result.events = { new: outcome.newEvents, alreadyHeld: events - outcome.newEvents }
    result.repositories = outcome.repositories
    result.artifacts = outcome.artifacts
    result.state = outcome.state
  } finally {
    staged.clear()
  }
  return result
}
