/**
 * In-process profile of replication catch-up, phase by phase (no network, no second process):
 * where a joining node's time goes per event.
 *
 *   read     the serving side's ReplicationLog.sinceSigned pages (MAX_BATCH_EVENTS each)
 *   encode   the serving side's wire encoding of those pages (toWire + JSON)
 *   decode   the puller's parsing and validation of the messages (decodeServerMessage + fromWire)
 *   verify   the puller's hash-chain check (ChainVerifier: one Ed25519 check per run)
 *   apply    the puller's applier (createEventApplier), TX events per transaction, commit included
 *
 * Each phase is timed in CPU microseconds per event (process.cpuUsage), apply also in wall time
 * (the fsync of each commit is wall, not CPU); the best of REPS runs is kept (the machine is shared).
 *
 *   N=20000 REPS=3 TX=500 node bin/run-ts.mjs bench/mesh/apply-prof.ts
 *
 * Environment: N events (default 20,000), REPS (default 3), TX events per applying transaction
 * (default: the sync service's APPLY_BATCH_EVENTS), PAGE events per message (default MAX_BATCH_EVENTS).
 */
import { readFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ChainVerifier, createEventSigner, decodeServerMessage, encodeSyncMessage as encode, fromWire, toWire, APPLY_BATCH_EVENTS, MAX_BATCH_EVENTS } from '../../mesh/index.ts'
import { createEventApplier } from '../../store/index.ts'
import { createMemoryDriver, openStore, type SignedEvent, type Store } from '../../store/index.ts'
import { tempDir } from '../../test/helpers/node-process.ts'
import { computeDigests } from '../../test/mesh/digests.ts'

const N = Number(process.env.N ?? 20_000)
const REPS = Number(process.env.REPS ?? 3)
const TX = Number(process.env.TX ?? APPLY_BATCH_EVENTS)
const PAGE = Number(process.env.PAGE ?? MAX_BATCH_EVENTS)

const cpu = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}
const perEvent = (us: number) => Number((us / N).toFixed(1))
/** Bytes this process handed to write(2) so far (Linux /proc/self/io), to see the WAL traffic of commits. */
const written = () => {
  try {
    return Number(/^wchar: (\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}

async function freshStore(prefix: string): Promise<Store> {
  const key = await generateKeyPair('Ed25519')
  return openStore({ dataDir: tempDir(prefix), driver: createMemoryDriver(), nodeId: peerIdFromPrivateKey(key).toString(), sign: createEventSigner(key) })
}

const src = await freshStore('ak-prof-src-')
src.repositories.create({ key: 'bench', format: 'generic', type: 'local', settings: { replication: { mode: 'lazy' } } })
for (let i = 0; i < N; i += 1000) {
  src.artifacts.transaction(() => {
    for (let j = i; j < Math.min(N, i + 1000); j++) {
      src.artifacts.put({ repo: 'bench', path: `d/${Math.floor(j / 1000)}/f-${j}.txt`, blob: computeDigests(Buffer.from(`x${j}\n`)), overwrite: false })
    }
  })
}

interface Run {
  read: number
  encode: number
  decode: number
  verify: number
  applyCpu: number
  applyWall: number
  applyWritten: number
}
const runs: Run[] = []
for (let rep = 0; rep < REPS; rep++) {
  const run: Run = { read: 0, encode: 0, decode: 0, verify: 0, applyCpu: 0, applyWall: 0, applyWritten: 0 }
  let t = cpu()
  const pages: SignedEvent[][] = []
  for (let after = 0; ; ) {
    const page = src.log.sinceSigned(src.log.origin, after, PAGE)
    if (page.length === 0) break
    pages.push(page)
    after = (page[page.length - 1] as SignedEvent).seq
  }
  run.read = cpu() - t
  t = cpu()
  const messages = pages.map((page) => encode({ type: 'events', events: page.map((e) => toWire(e)) }))
  run.encode = cpu() - t
  t = cpu()
  const received = messages.map((bytes) => {
    const m = decodeServerMessage(bytes)
    return m.type === 'events' ? m.events.map(fromWire) : []
  })
  run.decode = cpu() - t

  const dst = await freshStore('ak-prof-dst-')
  // Experiments: PRAGMAS='cache_size=-65536;wal_autocheckpoint=4000' (connection settings only).
  for (const p of (process.env.PRAGMAS ?? '').split(';').filter(Boolean)) dst.db.pragma(p)
  const applier = createEventApplier(dst.db, dst.log)
  const chains = new ChainVerifier((o) => dst.log.head(o))
  let pending: SignedEvent[] = []
  const flush = () => {
    const c0 = cpu()
    const w0 = performance.now()
    const b0 = written()
    applier.apply(pending)
    run.applyWritten += written() - b0
    run.applyCpu += cpu() - c0
    run.applyWall += (performance.now() - w0) * 1000
    pending = []
  }
  for (const events of received) {
    t = cpu()
    const { accepted, error } = chains.verify(events)
    run.verify += cpu() - t
    if (error) throw error
    for (const e of accepted) pending.push(e)
    if (pending.length >= TX) flush()
  }
  if (pending.length > 0) flush()
  const held = src.log.head(src.log.origin).seq
  if (dst.log.head(src.log.origin).seq !== held) throw new Error(`applied ${dst.log.head(src.log.origin).seq} of ${held} events`)
  dst.close()
  runs.push(run)
}
src.close()

const best = (k: keyof Run) => perEvent(Math.min(...runs.map((r) => r[k])))
const result = {
  events: N,
  tx: TX,
  page: PAGE,
  usPerEvent: { read: best('read'), encode: best('encode'), decode: best('decode'), verify: best('verify'), applyCpu: best('applyCpu'), applyWall: best('applyWall') },
  bytesWrittenPerEvent: Math.round(Math.min(...runs.map((r) => r.applyWritten)) / N),
}
const puller = result.usPerEvent.decode + result.usPerEvent.verify + result.usPerEvent.applyWall
console.log(JSON.stringify({ ...result, pullerEventsPerSecond: Math.round(1e6 / puller) }))
