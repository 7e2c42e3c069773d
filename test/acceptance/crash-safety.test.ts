/**
 * A node killed with SIGKILL in the middle of uploads loses nothing it acknowledged and never
 * shows anything it did not finish. Twenty times: a few concurrent uploads of 1–32 MiB start,
 * the node is SIGKILLed at a random point (at a random time, while a body streams, right after
 * a body's last byte left the client, which is around the node's fsync/rename/commit, or the
 * instant the first upload is acknowledged), and restarted on the same data directory. Then:
 * `ak fsck --json` finds 0 problems, data/tmp is empty, every acknowledged artifact is served
 * with its digest, no upload whose body had not been sent in full is listed or served, and an
 * upload whose whole body was sent but whose answer was lost in the kill is either absent or
 * complete and correct (never partial).
 *
 * AK_CRASH_SEED replays a run (the seed is printed); AK_CRASH_ROUNDS changes the count of kills.
 */
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { runAk, startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'
import { MiB, RandomBody, createGenericRepo, expectedSha256, hashBody } from './support.ts'

const ROUNDS = Number(process.env.AK_CRASH_ROUNDS ?? 20)
const SEED = Number(process.env.AK_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31))
const REPO = 'crash'
const KILL_MODES = ['during-body', 'around-commit', 'at-first-ack', 'random-time'] as const
type KillMode = (typeof KILL_MODES)[number]

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with AK_CRASH_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Upload {
  path: string
  seed: number
  size: number
  sha256: string
  /** Every byte of the body was handed to the connection before the kill. */
  bodySent: boolean
  /** A 2xx answer with the right digest arrived. */
  acknowledged: boolean
  outcome: string
}

function tmpEntries(dataDir: string): string[] {
  try {
    return readdirSync(join(dataDir, 'tmp'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

async function fetchArtifact(node: NodeProcess, path: string): Promise<{ status: number; sha256?: string; size?: number }> {
  const res = await request(`${node.url}/generic/${REPO}/${path}`, { headers: { authorization: node.adminAuth } })
  if (res.statusCode !== 200) {
    await res.body.dump()
    return { status: res.statusCode }
  }
  return { status: 200, ...(await hashBody(res.body)) }
}

async function listDir(node: NodeProcess, dir: string): Promise<string[]> {
  const res = await request(`${node.url}/generic/${REPO}/${dir}/`, { headers: { authorization: node.adminAuth } })
  if (res.statusCode === 404) {
    await res.body.dump()
    return []
  }
  expect(res.statusCode).toBe(200)
  const listing = (await res.body.json()) as { children: { name: string; type: string }[] }
  return listing.children.filter((c) => c.type === 'file').map((c) => `${dir}/${c.name}`)
}

describe('a node killed with SIGKILL during uploads', () => {
  const dataDir = tempDir('ak-crash-')
  let node: NodeProcess | undefined

  afterAll(async () => {
    await node?.kill()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it(
    `keeps every acknowledged artifact and shows no unfinished one, over ${ROUNDS} kills (seed ${SEED})`,
    async () => {
      const random = prng(SEED)
      const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1))
      const all: Upload[] = []
      const appearedUnacknowledged: string[] = []
      const log: string[] = []
      const phaseMs = { uploads: 0, restartAndFsck: 0, checks: 0 }
      let mark = performance.now()
      const lap = (phase: keyof typeof phaseMs) => {
        const now = performance.now()
        phaseMs[phase] += now - mark
        mark = now
      }

      node = await startNodeProcess({ dataDir })
      await createGenericRepo(node, REPO)

      for (let round = 0; round < ROUNDS; round++) {
        const live: NodeProcess = node
        const mode: KillMode = KILL_MODES[round % KILL_MODES.length] as KillMode
        const count = between(1, 4)
        const uploads: Upload[] = []
        for (let j = 0; j < count; j++) {
          const seed = round * 100 + j + SEED
          const size = between(1 * MiB, 32 * MiB)
          uploads.push({
            path: `round-${round}/file-${j}.bin`,
            seed,
            size,
            sha256: expectedSha256(seed, size),
            bodySent: false,
            acknowledged: false,
            outcome: 'pending',
          })
        }
        all.push(...uploads)

        // The kill trigger for this round, armed on one target upload.
        let fire!: () => void
        const killed = new Promise<void>((r) => (fire = r)).then(() => live.kill())
        const target = uploads[between(0, count - 1)] as Upload
        const threshold = Math.floor(target.size * (0.05 + 0.9 * random()))
        const commitDelay = between(0, 250)
        const timeDelay = between(0, 1200)
        if (mode === 'random-time') setTimeout(fire, timeDelay)

        mark = performance.now()
        const results = uploads.map(async (u) => {
          const body = new RandomBody(u.seed, u.size, (sent) => {
            if (u !== target) return
            if (mode === 'during-body' && sent >= threshold) fire()
            if (mode === 'around-commit' && sent === u.size) setTimeout(fire, commitDelay)
          })
          body.on('end', () => (u.bodySent = true))
          try {
            const res = await request(`${live.url}/generic/${REPO}/${u.path}`, {
              method: 'PUT',
              body,
              headers: { authorization: live.adminAuth, 'content-length': String(u.size) },
            })
            const text = await res.body.text()
            if (res.statusCode >= 200 && res.statusCode < 300) {
              const answer = JSON.parse(text) as { checksums: { sha256: string } }
              // An acknowledgement with a wrong digest is a failure of its own.
              expect(answer.checksums.sha256, `digest acknowledged for ${u.path}`).toBe(u.sha256)
              u.acknowledged = true
              u.outcome = `acknowledged ${res.statusCode}`
              if (mode === 'at-first-ack') fire()
            } else {
              u.outcome = `HTTP ${res.statusCode}`
            }
          } catch (err) {
            u.outcome = `failed: ${(err as Error).message}`
          }
        })
        await Promise.all(results)
        fire() // everything may have finished before the trigger: kill anyway
        await killed
        lap('uploads')
        log.push(`round ${round} ${mode}: ${uploads.map((u) => `${u.path} ${u.size} ${u.outcome}`).join('; ')}`)

        // Restart on the same data directory; fsck the crashed state meanwhile.
        const [restarted, fsck] = await Promise.all([
          startNodeProcess({ dataDir }),
          runAk(['fsck', '--json'], { AK_DATA_DIR: dataDir }, 120_000),
        ])
        node = restarted
        lap('restartAndFsck')
        const report = JSON.parse(fsck.stdout) as { problems: unknown[]; blobsChecked: number }
        expect(report.problems, `fsck after round ${round}\n${log.join('\n')}`).toEqual([])
        expect(fsck.code).toBe(0)
        expect(tmpEntries(dataDir), `data/tmp after restart in round ${round}`).toEqual([])

        // This round's uploads: each either acknowledged and served right, or not there.
        for (const u of uploads) {
          const got = await fetchArtifact(node, u.path)
          const context = `${u.path} (${u.size} bytes, ${u.outcome}, round ${round} ${mode}, seed ${SEED})`
          if (u.acknowledged) {
            expect(got, context).toEqual({ status: 200, sha256: u.sha256, size: u.size })
          } else if (!u.bodySent) {
            expect(got.status, `never fully sent, yet served: ${context}`).toBe(404)
          } else if (got.status === 200) {
            // Committed, but the answer died with the node: it must be whole.
            expect(got, context).toEqual({ status: 200, sha256: u.sha256, size: u.size })
            appearedUnacknowledged.push(u.path)
          } else {
            expect(got.status, context).toBe(404)
          }
        }
        // Listings: every acknowledged file, and no file whose body was not fully sent.
        const listed = new Set((await Promise.all(uploads.length ? [listDir(node, `round-${round}`)] : [])).flat())
        for (const u of uploads) {
          if (u.acknowledged) expect(listed.has(u.path), `acknowledged but not listed: ${u.path}`).toBe(true)
          if (!u.bodySent) expect(listed.has(u.path), `listed though never fully sent: ${u.path}`).toBe(false)
          if (!u.acknowledged && listed.has(u.path)) expect(appearedUnacknowledged).toContain(u.path)
        }
        for (const p of listed) expect(uploads.some((u) => u.path === p), `unknown file listed: ${p}`).toBe(true)
        lap('checks')
      }

      // At the end, everything ever acknowledged is still there and right.
      for (const u of all.filter((x) => x.acknowledged)) {
        expect(await fetchArtifact(node, u.path), u.path).toEqual({ status: 200, sha256: u.sha256, size: u.size })
      }
      const acknowledged = all.filter((u) => u.acknowledged).length
      process.stdout.write(
        `[crash-safety] seed ${SEED}: ${ROUNDS} kills, ${all.length} uploads, ${acknowledged} acknowledged, ` +
          `${appearedUnacknowledged.length} committed but unacknowledged (answer lost in the kill), ` +
          `${all.length - acknowledged - appearedUnacknowledged.length} absent; seconds spent: ` +
          Object.entries(phaseMs).map(([k, v]) => `${k} ${(v / 1000).toFixed(0)}`).join(', ') + '\n',
      )
      // The kill points must really interrupt uploads, or this test proves nothing.
      expect(all.length - acknowledged, 'uploads interrupted by a kill').toBeGreaterThan(ROUNDS / 2)
    },
    10 * 60_000,
  )
})
