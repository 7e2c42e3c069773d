import { createHash } from 'node:crypto'
import { rename, stat, unlink } from 'node:fs/promises'
import { chainOf, GENESIS_CHAIN, LOCAL_SECRET_SETTINGS, signingBytes, type SignedEvent, type Store } from '../../store/index.ts'
import { EVENT_FRAME_TARGET_BYTES, EVENTS_PER_FRAME, FRAME } from './constants.ts'
import { BundleError } from './errors.ts'
import { BundleWriter, signedMessage } from './frames.ts'
import { toWire, type BlobMeta, type BundleHeader, type WireEvent } from './schema.ts'

/** What export needs from the node: its store and a signer for its Ed25519 key. */
export interface ExportComponents {
  store: Store
  peerId: string
  /** Signs with the node key (mesh createEventSigner). */
  sign(bytes: Uint8Array): Uint8Array
}

export interface ExportOptions {
  /** The bundle file to write (refused when it exists; written as FILE.partial, renamed when complete). */
  out: string
  /** Only these repositories. @default every repository whose replication mode is not local-only */
  repos?: string[] | undefined
  /** Export the events after this version vector (a cursor). @default {} (everything) */
  since?: Record<string, number> | undefined
  /** Called once the contents are known, before a byte is written (the size estimate). */
  onPlan?(plan: ExportPlan): void
  /** Called as bytes are written. */
  onProgress?(bytesWritten: number): void
}

export interface ExportPlan {
  from: Record<string, number>
  to: Record<string, number>
  repos: string[] | null
  complete: boolean
  events: number
  blobs: number
  blobBytes: number
  /** The bundle's size, within a few bytes per event (the JSON framing). */
  estimatedBytes: number
}

export interface ExportResult extends ExportPlan {
  file: string
  bytes: number
  /** sha256 of the whole file, for the operator's own records. */
  sha256: string
  peerId: string
}

const PAGE = 500

interface Selection {
  plan: ExportPlan
  blobs: string[]
  /** The selected events, origin by origin, read again from the log (same bounds each time). */
  events(): Generator<{ event: SignedEvent; prev: Uint8Array }>
}

/**
 * A bundle never carries upstream credentials. Repository events are written without them
 * (store replicatedSettings), and signed events cannot be edited: one that has them anyway (a log
 * from before they were left out) stops the export instead of leaving on a carried disk.
 */
function refuseSecrets(event: SignedEvent): void {
  if (event.kind !== 'repo.create' && event.kind !== 'repo.update') return
  const upstream = (JSON.parse(event.payload) as { settings?: { upstream?: Record<string, unknown> } }).settings?.upstream
  if (upstream && typeof upstream === 'object' && LOCAL_SECRET_SETTINGS.some((k) => upstream[k] !== undefined)) {
    throw new BundleError('AK_BUNDLE_EXPORT', `event ${event.origin}/${event.seq} of repository '${event.repo}' carries upstream credentials; export it without that repository (--repos)`)
  }
}

/** Decides what goes into the bundle: which events, up to which vector, which held blobs. */
function select(store: Store, options: ExportOptions): Selection {
  const from = { ...(options.since ?? {}) }
  const to = store.log.versionVector()
  const wanted = options.repos ? new Set(options.repos) : undefined
  if (wanted) {
    for (const key of wanted) if (!store.repositories.get(key)) throw new BundleError('AK_BUNDLE_EXPORT', `repository '${key}' does not exist`)
  }
  const localOnly = new Set(
    store.repositories
      .list()
      .filter((r) => (r.settings.replication as { mode?: unknown } | undefined)?.mode === 'local-only')
      .map((r) => r.key),
  )
  const included = (repo: string) => (wanted ? wanted.has(repo) : !localOnly.has(repo))

  // The log's events carry no signature only when appended before signing existed: nobody can
  // verify them, so an origin's export stops there (as mesh sync does) and `to` says so.
  const origins = Object.keys(to).sort()
  function* walk(record: boolean): Generator<{ event: SignedEvent; include: boolean; prev: Uint8Array }> {
    for (const origin of origins) {
      let after = from[origin] ?? 0
      const last = to[origin] as number
      // Each event's signature covers its predecessor's chain value: the bundle carries it.
      let chain = store.log.chainAt(origin, after) ?? GENESIS_CHAIN
      while (after < last) {
        const page = store.log.sinceSigned(origin, after, PAGE)
        if (page.length === 0) break
        for (const e of page) {
          if (e.seq > last || !e.signature) {
            if (!e.signature && record) to[origin] = Math.max(from[origin] ?? 0, e.seq - 1)
            after = last
            break
          }
          after = e.seq
          const prev = chain
          chain = e.chain ?? chainOf(signingBytes(e, prev))
          yield { event: e, include: included(e.repo), prev }
        }
      }
    }
  }

  let events = 0
  let eventBytes = 0
  let complete = true
  const blobSet = new Set<string>()
  let blobBytes = 0
  let blobMetaBytes = 0
  for (const { event, include, prev } of walk(true)) {
    if (!include) {
      complete = false
      continue
    }
    refuseSecrets(event)
    events++
    eventBytes += JSON.stringify(toWire(event, prev)).length + 1
    if (event.kind === 'artifact.put' && event.sha256 && !blobSet.has(event.sha256)) {
      const record = store.blobIndex.get(event.sha256)
      if (record && !store.remoteBlobs.has(event.sha256)) {
        blobSet.add(event.sha256)
        blobBytes += record.size
        blobMetaBytes += 400 + record.chunkManifest.length * 2
      }
    }
  }
  // An origin whose events lie wholly at or before the cursor adds nothing; keep `to` >= `from`.
  for (const [origin, seq] of Object.entries(from)) to[origin] = Math.max(to[origin] ?? 0, seq)
  const frames = Math.ceil(events / EVENTS_PER_FRAME) + Math.ceil(eventBytes / EVENT_FRAME_TARGET_BYTES)
  const plan: ExportPlan = {
    from,
    to,
    repos: options.repos ?? null,
    complete,
    events,
    blobs: blobSet.size,
    blobBytes,
    estimatedBytes: 10 + 1024 + eventBytes + frames * 16 + blobMetaBytes + blobSet.size * 5 + blobBytes + 65,
  }
  return {
    plan,
    blobs: [...blobSet],
    *events() {
      for (const { event, include, prev } of walk(false)) {
        if (include && event.seq <= (to[event.origin] ?? 0)) yield { event, prev }
      }
    },
  }
}

/**
 * Writes a signed bundle of the events since a cursor and every blob they reference that this
 * node holds (streamed from the blob store, checked against its sha256 on the way out).
 */
export async function exportBundle(c: ExportComponents, options: ExportOptions): Promise<ExportResult> {
  if (await stat(options.out).catch(() => undefined)) throw new BundleError('AK_BUNDLE_EXPORT', `${options.out} already exists; choose another --out`)
  const selection = select(c.store, options)
  const { plan } = selection
  options.onPlan?.(plan)
  const partial = `${options.out}.partial`
  await unlink(partial).catch(() => {})
  const w = new BundleWriter(partial)
  const progress = () => options.onProgress?.(w.bytes)
  try {
    await w.magic()
    const header: BundleHeader = {
      format: 'ak-bundle',
      version: 1,
      peerId: c.peerId,
      created: new Date().toISOString(),
      from: plan.from,
      to: plan.to,
      repos: plan.repos,
      complete: plan.complete,
      counts: { events: plan.events, blobs: plan.blobs },
      blobBytes: plan.blobBytes,
    }
    await w.jsonFrame(FRAME.header, header)
    let batch: WireEvent[] = []
    let batchBytes = 0
    let written = 0
    const flush = async () => {
      if (batch.length === 0) return
      await w.jsonFrame(FRAME.events, { events: batch })
      written += batch.length
      batch = []
      batchBytes = 0
      progress()
    }
    for (const { event: e, prev } of selection.events()) {
      const wire = toWire(e, prev)
      const size = wire.payload.length + 512
      if (batch.length >= EVENTS_PER_FRAME || (batch.length > 0 && batchBytes + size > EVENT_FRAME_TARGET_BYTES)) await flush()
      batch.push(wire)
      batchBytes += size
    }
    await flush()
    if (written !== plan.events) throw new BundleError('AK_BUNDLE_EXPORT', `the log changed while exporting (${written} events, planned ${plan.events}); run the export again`)
    for (const sha256 of selection.blobs) {
      const record = c.store.blobIndex.get(sha256)
      if (!record) throw new BundleError('AK_BUNDLE_EXPORT', `blob ${sha256} vanished while exporting (gc?); run the export again`)
      const meta: BlobMeta = {
        sha256,
        size: record.size,
        sha1: record.sha1,
        md5: record.md5,
        sha512: record.sha512,
        chunkManifest: record.chunkManifest.toString('hex'),
      }
      const body = Buffer.from(JSON.stringify(meta), 'utf8')
      const head = Buffer.alloc(5)
      head.writeUInt8(FRAME.blob, 0)
      head.writeUInt32BE(body.length, 1)
      await w.write(Buffer.concat([head, body]))
      const check = createHash('sha256')
      let size = 0
      for await (const chunk of await c.store.blobs.open(sha256)) {
        const buf = chunk as Buffer
        check.update(buf)
        size += buf.length
        await w.write(buf)
        progress()
      }
      if (size !== record.size || check.digest('hex') !== sha256) {
        throw new BundleError('AK_BUNDLE_EXPORT', `blob ${sha256} is damaged in this node's store (run ak fsck); nothing exported`)
      }
    }
    await w.write(Buffer.from([FRAME.signature]))
    const digest = w.digest()
    const signature = c.sign(signedMessage(digest))
    await w.finish(signature)
    progress()
    await rename(partial, options.out)
  } catch (err) {
    w.destroy()
    await unlink(partial).catch(() => {})
    throw err
  }
  return { ...plan, file: options.out, bytes: w.bytes, sha256: w.fileSha256, peerId: c.peerId }
}
