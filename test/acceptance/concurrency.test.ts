/**
 * One node under concurrent load: 100 uploads of 1–10 MiB at once, then 500 downloads at once
 * through one undici connection pool (one connection per download, so all 500 are in flight
 * together). No request may fail and every byte must come back with the digest it went up with.
 */
import { rmSync } from 'node:fs'
import { Pool } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { MiB, RandomBody, createGenericRepo, hashBody } from './support.ts'

const UPLOADS = 100
const DOWNLOADS = 500
const REPO = 'load'

interface Stored {
  path: string
  size: number
  sha256: string
}

describe('a node under concurrent load', () => {
  let node: NodeProcess
  let pool: Pool
  const stored: Stored[] = []

  beforeAll(async () => {
    node = await startNodeProcess()
    pool = new Pool(node.url, { connections: DOWNLOADS, headersTimeout: 120_000, bodyTimeout: 120_000 })
    await createGenericRepo(node, REPO, pool)
  })

  afterAll(async () => {
    await pool?.close()
    await node?.stop()
    if (node) rmSync(node.dataDir, { recursive: true, force: true })
  })

  it(
    `accepts ${UPLOADS} concurrent uploads of 1-10 MiB without an error and with every digest right`,
    async () => {
      const errors: string[] = []
      await Promise.all(
        Array.from({ length: UPLOADS }, async (_, i) => {
          const size = 1 * MiB + Math.floor(Math.random() * 9 * MiB)
          const path = `batch/${String(i).padStart(3, '0')}/payload.bin`
          const body = new RandomBody(1000 + i, size)
          try {
            const res = await pool.request({
              path: `/generic/${REPO}/${path}`,
              method: 'PUT',
              body,
              headers: { authorization: node.adminAuth, 'content-length': String(size) },
            })
            const answer = (await res.body.json()) as { size?: number; checksums?: { sha256: string } }
            if (res.statusCode !== 201) errors.push(`${path}: HTTP ${res.statusCode} ${JSON.stringify(answer)}`)
            else if (answer.checksums?.sha256 !== body.sha256() || answer.size !== size) errors.push(`${path}: wrong digest acknowledged`)
            else stored.push({ path, size, sha256: body.sha256() })
          } catch (err) {
            errors.push(`${path}: ${(err as Error).message}`)
          }
        }),
      )
      expect(errors).toEqual([])
      expect(stored).toHaveLength(UPLOADS)
    },
    5 * 60_000,
  )

  it(
    `serves ${DOWNLOADS} concurrent downloads without an error and with every digest right`,
    async () => {
      expect(stored, 'the uploads must have succeeded first').toHaveLength(UPLOADS)
      const errors: string[] = []
      let inFlight = 0
      let maxInFlight = 0
      let bytes = 0
      const start = performance.now()
      await Promise.all(
        Array.from({ length: DOWNLOADS }, async (_, i) => {
          const want = stored[i % stored.length] as Stored
          try {
            const res = await pool.request({ path: `/generic/${REPO}/${want.path}`, method: 'GET', headers: { authorization: node.adminAuth } })
            inFlight++
            maxInFlight = Math.max(maxInFlight, inFlight)
            try {
              if (res.statusCode !== 200) {
                errors.push(`${want.path}: HTTP ${res.statusCode} ${await res.body.text()}`)
                return
              }
              const header = res.headers['x-checksum-sha256']
              const got = await hashBody(res.body)
              bytes += got.size
              if (got.sha256 !== want.sha256 || got.size !== want.size || header !== want.sha256) {
                errors.push(`${want.path}: got ${got.size} bytes sha256 ${got.sha256} (header ${String(header)}), want ${want.size} ${want.sha256}`)
              }
            } finally {
              inFlight--
            }
          } catch (err) {
            errors.push(`${want.path}: ${(err as Error).message}`)
          }
        }),
      )
      const seconds = (performance.now() - start) / 1000
      process.stdout.write(
        `[concurrency] ${DOWNLOADS} downloads, ${(bytes / MiB).toFixed(0)} MiB in ${seconds.toFixed(1)} s, ` +
          `${maxInFlight} response bodies streaming at once at the peak\n`,
      )
      expect(errors).toEqual([])
      // They really overlapped: far more than a handful of responses were open together.
      expect(maxInFlight).toBeGreaterThan(DOWNLOADS / 5)
    },
    5 * 60_000,
  )
})
