/**
 * Diagnostic for the transport benchmark: the scheduler alone (verify, write, stream) fetching a
 * blob from in-memory sources that answer at once, so what it measures is the fetching node's own
 * per-chunk cost. `node bin/run-ts.mjs bench/swarm/scheduler-probe.ts` (AK_BENCH_TRANSPORT_BYTES, default 256 MiB).
 */
import { MiB } from '../../test/swarm/swarm-helpers.ts'
import { directoryOf, makeBlob, MemorySource, openSwarmFixture } from '../../test/scheduler/swarm-fixture.ts'

const BYTES = Number(process.env.AK_BENCH_TRANSPORT_BYTES ?? 256 * MiB)
const log = (line: string) => process.stdout.write(`${line}\n`)

const blob = makeBlob(BYTES)
for (const mode of (process.env.AK_PROBE_MODES ?? 'stream,fetch').split(',') as ('stream' | 'fetch')[]) {
  const fx = openSwarmFixture()
  try {
    fx.knowRemote(blob)
    const source = new MemorySource('http:mem', blob, { kind: 'http' })
    const scheduler = fx.scheduler({ directory: directoryOf(() => [source]), tuning: {} })
    const t0 = performance.now()
    if (mode === 'stream') {
      const stream = await scheduler.open(blob.digests.sha256)
      // Counted, not hashed here: the client is another process in the real benchmark.
      let n = 0
      for await (const part of stream) n += (part as Buffer).length
      if (n !== BYTES) throw new Error(`streamed ${n} of ${BYTES} bytes`)
    } else {
      await scheduler.fetch(blob.digests.sha256)
    }
    log(`scheduler ${mode}: ${(BYTES / MiB / ((performance.now() - t0) / 1000)).toFixed(1)} MiB/s`)
  } finally {
    await fx.close()
  }
}
