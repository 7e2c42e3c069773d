/**
 * `npm run bench`: the foundation's throughput benchmarks, each against a baseline measured in
 * the same run on the same machine and the same file. See bench/README.md.
 *
 *   ingest  PUT of a 1 GiB file into a node   vs  sha256 of that file (node:crypto over a read stream)
 *   get     GET of that artifact from the node vs  a bare fastify route streaming the file
 *
 * Runs alternate (baseline, subject, baseline, subject…) so load from elsewhere hits both alike;
 * each figure is the median of AK_BENCH_REPS runs. Writes bench/results/latest.json.
 *
 * Environment: AK_BENCH_BYTES (default 1 GiB), AK_BENCH_REPS (default 5).
 */
import { execFileSync, spawn } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { request } from 'undici'
import { BlobHasher, createParallelHasher, hashThreadCount } from '../store/index.ts'
import { REPO_ROOT, startNodeProcess, type NodeProcess } from '../test/helpers/node-process.ts'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const SIZE = Number(process.env.AK_BENCH_BYTES ?? GiB)
const REPS = Number(process.env.AK_BENCH_REPS ?? 5)
const IO_BUFFER = 1 * MiB
const TIMEOUT = 10 * 60_000
const RESULTS = join(REPO_ROOT, 'bench', 'results', 'latest.json')

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000)
const round1 = (x: number) => Math.round(x * 10) / 10

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(' ') ?? []
  return {
    nproc: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    cpuHashFlags: ['sha_ni', 'aes', 'avx2', 'avx512f'].filter((f) => flags.includes(f)),
    node: process.version,
    memTotalMiB: Math.round(os.totalmem() / MiB),
  }
}

function load(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim()
  } catch {
    return `load average: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`
  }
}

/** Writes `size` pseudo-random bytes (AES-CTR keystream) to `file`. */
async function makeFile(file: string, size: number): Promise<void> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 9))
  const zeros = Buffer.alloc(IO_BUFFER)
  async function* bytes() {
    for (let left = size; left > 0; left -= IO_BUFFER) yield cipher.update(zeros.subarray(0, Math.min(IO_BUFFER, left)))
  }
  await pipeline(Readable.from(bytes()), createWriteStream(file))
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: IO_BUFFER })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function blobHasherOfFile(file: string): Promise<string> {
  const hasher = new BlobHasher()
  for await (const chunk of createReadStream(file, { highWaterMark: IO_BUFFER })) hasher.update(chunk as Buffer)
  return hasher.digest().sha256
}

async function parallelHasherOfFile(file: string): Promise<string> {
  const hasher = createParallelHasher()
  for await (const chunk of createReadStream(file, { highWaterMark: IO_BUFFER })) await hasher.update(chunk as Buffer)
  return (await hasher.digest()).sha256
}

async function putFile(node: NodeProcess, path: string, file: string): Promise<string> {
  const res = await request(`${node.url}/generic/bench/${path}`, {
    method: 'PUT',
    body: createReadStream(file, { highWaterMark: IO_BUFFER }),
    headers: { authorization: node.adminAuth, 'content-length': String(SIZE), 'content-type': 'application/octet-stream' },
    headersTimeout: TIMEOUT,
    bodyTimeout: TIMEOUT,
  })
  const answer = (await res.body.json()) as { checksums?: { sha256: string } }
  if (res.statusCode >= 300) throw new Error(`PUT ${path}: HTTP ${res.statusCode} ${JSON.stringify(answer)}`)
  return answer.checksums?.sha256 ?? ''
}

/** GETs `url` and drains the body without hashing (the client must not be the bottleneck). */
async function drain(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await request(url, { headers, headersTimeout: TIMEOUT, bodyTimeout: TIMEOUT })
  if (res.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${res.statusCode}`)
  let n = 0
  for await (const chunk of res.body) n += (chunk as Buffer).length
  if (n !== SIZE) throw new Error(`GET ${url}: ${n} bytes, expected ${SIZE}`)
  return n
}

async function startBare(file: string): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'run-ts.mjs'), join(REPO_ROOT, 'bench', 'bare-server.ts'), file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error('bare server did not start in 30 s')), 30_000)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /BARE_URL=(\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1] as string)
      }
    })
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)))
  })
  return { url, stop: () => child.kill('SIGTERM') }
}

interface Series {
  name: string
  runsMBps: number[]
  medianMBps: number
}
const series = (name: string, bytes: number, ms: number[]): Series => ({
  name,
  runsMBps: ms.map((t) => round1(mbps(bytes, t))),
  medianMBps: round1(median(ms.map((t) => mbps(bytes, t)))),
})

async function main(): Promise<void> {
  const work = mkdtempSync(join(os.tmpdir(), 'ak-bench-'))
  try {
    await runIn(work)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

async function runIn(work: string): Promise<void> {
  const info = machine()
  const file = join(work, 'payload.bin')
  const loadBefore = load()
  process.stdout.write(`machine: ${info.nproc} cpus, ${info.cpuModel}, node ${info.node}\n${loadBefore}\n`)
  process.stdout.write(`writing a ${SIZE}-byte file; ${REPS} repetitions per benchmark\n`)
  await makeFile(file, SIZE)
  const expected = await sha256OfFile(file) // also warms the page cache

  // The node as shipped (hashing threads), and one hashing on its main thread (the design before).
  const threads = hashThreadCount()
  const node = await startNodeProcess({ dataDir: join(work, 'node'), env: { AK_HASH_THREADS: String(threads) } })
  const inlineNode = await startNodeProcess({ dataDir: join(work, 'node-inline'), env: { AK_HASH_THREADS: '0' } })
  const bare = await startBare(file)
  try {
    for (const n of [node, inlineNode]) {
      const created = await request(`${n.url}/api/v1/repositories`, {
        method: 'POST',
        headers: { authorization: n.adminAuth, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'bench', format: 'generic' }),
      })
      if (created.statusCode !== 201) throw new Error(`create repository: HTTP ${created.statusCode} ${await created.body.text()}`)
      await created.body.dump()
    }

    // Ingest vs raw sha256, alternating.
    const shaMs: number[] = []
    const hasherMs: number[] = []
    const parallelMs: number[] = []
    const ingestMs: number[] = []
    const inlineIngestMs: number[] = []
    const check = (got: string) => {
      if (got !== expected) throw new Error(`sha256 ${got} reported, the file's is ${expected}`)
    }
    for (let i = 0; i < REPS; i++) {
      shaMs.push(await timed(async () => void (await sha256OfFile(file))))
      hasherMs.push(await timed(async () => check(await blobHasherOfFile(file))))
      parallelMs.push(await timed(async () => check(await parallelHasherOfFile(file))))
      ingestMs.push(await timed(async () => check(await putFile(node, `ingest-${i}.bin`, file))))
      inlineIngestMs.push(await timed(async () => check(await putFile(inlineNode, `ingest-${i}.bin`, file))))
      process.stdout.write(
        `  ingest run ${i + 1}: sha256 ${mbps(SIZE, shaMs[i] as number).toFixed(0)} MB/s, ` +
          `node ${mbps(SIZE, ingestMs[i] as number).toFixed(0)} MB/s, ` +
          `node hashing in-thread ${mbps(SIZE, inlineIngestMs[i] as number).toFixed(0)} MB/s\n`,
      )
    }

    // GET vs a bare fastify route, alternating.
    const bareMs: number[] = []
    const bare1mMs: number[] = []
    const getMs: number[] = []
    const auth = { authorization: node.adminAuth }
    await drain(`${node.url}/generic/bench/ingest-0.bin`, auth) // warm-up: JIT, page cache
    await drain(`${bare.url}/file`)
    await drain(`${bare.url}/file-1m`)
    for (let i = 0; i < REPS; i++) {
      bareMs.push(await timed(async () => void (await drain(`${bare.url}/file`))))
      bare1mMs.push(await timed(async () => void (await drain(`${bare.url}/file-1m`))))
      getMs.push(await timed(async () => void (await drain(`${node.url}/generic/bench/ingest-0.bin`, auth))))
      process.stdout.write(
        `  get run ${i + 1}: bare ${mbps(SIZE, bareMs[i] as number).toFixed(0)} MB/s, ` +
          `bare 1 MiB reads ${mbps(SIZE, bare1mMs[i] as number).toFixed(0)} MB/s, ` +
          `node ${mbps(SIZE, getMs[i] as number).toFixed(0)} MB/s\n`,
      )
    }

    const sha = series('raw sha256 of the file (node:crypto, read stream)', SIZE, shaMs)
    const hasher = series('all digests in one thread (BlobHasher, in-process)', SIZE, hasherMs)
    const parallel = series(`all digests on ${threads} hashing threads (in-process)`, SIZE, parallelMs)
    const ingest = series(`node ingest: PUT /generic, ${threads} hashing threads`, SIZE, ingestMs)
    const inlineIngest = series('node ingest, hashing in-thread (AK_HASH_THREADS=0, before)', SIZE, inlineIngestMs)
    const inlineRatio = Math.round((inlineIngest.medianMBps / sha.medianMBps) * 100) / 100
    const bareDefaultGet = series('bare fastify GET, createReadStream defaults (64 KiB reads)', SIZE, bareMs)
    const bareGet = series('bare fastify GET, createReadStream 1 MiB reads (baseline)', SIZE, bare1mMs)
    const nodeGet = series('node GET /generic', SIZE, getMs)
    const ingestRatio = Math.round((ingest.medianMBps / sha.medianMBps) * 100) / 100
    const getRatio = Math.round((nodeGet.medianMBps / bareGet.medianMBps) * 100) / 100
    const defaultRatio = Math.round((nodeGet.medianMBps / bareDefaultGet.medianMBps) * 100) / 100
    const loadAfter = load()

    const rows: [string, string, string][] = [
      [sha.name, `${sha.medianMBps}`, sha.runsMBps.join(', ')],
      [hasher.name, `${hasher.medianMBps}`, hasher.runsMBps.join(', ')],
      [parallel.name, `${parallel.medianMBps}`, parallel.runsMBps.join(', ')],
      [inlineIngest.name, `${inlineIngest.medianMBps}`, inlineIngest.runsMBps.join(', ')],
      ['  ratio to raw sha256 (before)', `${inlineRatio}x`, ''],
      [ingest.name, `${ingest.medianMBps}`, ingest.runsMBps.join(', ')],
      ['  ingest ratio (node ingest / raw sha256), goal >= 0.7', `${ingestRatio}x`, ''],
      [bareDefaultGet.name, `${bareDefaultGet.medianMBps}`, bareDefaultGet.runsMBps.join(', ')],
      [bareGet.name, `${bareGet.medianMBps}`, bareGet.runsMBps.join(', ')],
      [nodeGet.name, `${nodeGet.medianMBps}`, nodeGet.runsMBps.join(', ')],
      ['  get ratio (node GET / bare GET with 1 MiB reads), goal >= 0.9', `${getRatio}x`, ''],
      ['  (node GET / bare GET with default reads)', `${defaultRatio}x`, ''],
    ]
    const w0 = Math.max(...rows.map((r) => r[0].length), 9)
    const w1 = Math.max(...rows.map((r) => r[1].length), 10)
    const line = (a: string, b: string, c: string) => `| ${a.padEnd(w0)} | ${b.padStart(w1)} | ${c} |`
    process.stdout.write(
      [
        '',
        `${(SIZE / GiB).toFixed(SIZE % GiB ? 3 : 0)} GiB, median of ${REPS} runs, MB/s = 10^6 bytes/s`,
        line('benchmark', 'median', 'runs (MB/s)'),
        line('-'.repeat(w0), '-'.repeat(w1), '---'),
        ...rows.map((r) => line(...r)),
        '',
        `load before: ${loadBefore}`,
        `load after:  ${loadAfter}`,
        '',
      ].join('\n'),
    )

    mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true })
    writeFileSync(
      RESULTS,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          machine: { ...info, loadBefore, loadAfter },
          sizeBytes: SIZE,
          repetitions: REPS,
          ingest: {
            baseline: sha,
            subject: ingest,
            ratio: ingestRatio,
            goal: 0.7,
            hashThreads: threads,
            before: { subject: inlineIngest, ratio: inlineRatio },
            inProcess: { oneThread: hasher, hashingThreads: parallel },
          },
          get: {
            baseline: bareGet,
            subject: nodeGet,
            ratio: getRatio,
            goal: 0.9,
            defaultReadsBaseline: { baseline: bareDefaultGet, ratio: defaultRatio },
          },
        },
        null,
        2,
      )}\n`,
    )
    process.stdout.write(`wrote ${RESULTS}\n`)
  } finally {
    bare.stop()
    await node.stop()
    await inlineNode.stop()
  }
}

await main()
