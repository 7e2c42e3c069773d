/**
 * A 1 GiB generic artifact goes up and comes back through a real `ak serve` process, on the
 * filesystem backend and on the S3 backend (s3rver on loopback). The body is generated while it
 * is sent and hashed while it is received: the test never holds it either. The node's memory
 * must stay bounded: its peak RSS during each transfer may exceed its RSS right before it by
 * less than 100 MiB, whatever the artifact's size.
 *
 * AK_LARGE_ARTIFACT_BYTES overrides the size for quick local runs; CI runs the full 1 GiB.
 */
import { rmSync } from 'node:fs'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import {
  GiB,
  MiB,
  RandomBody,
  createGenericRepo,
  hashBody,
  procStatusBytes,
  resetPeakRss,
  startS3rver,
  type S3rverProcess,
} from './support.ts'

const SIZE = Number(process.env.AK_LARGE_ARTIFACT_BYTES ?? GiB)
const MAX_RSS_GROWTH = 100 * MiB
const TEN_MINUTES = 10 * 60_000

interface Measured {
  /** Peak RSS during the transfer minus RSS right before it. */
  growth: number
  seconds: number
}

/** Runs `transfer` and measures the node's RSS growth over it (VmHWM after − VmRSS before). */
async function measure(node: NodeProcess, transfer: () => Promise<void>): Promise<Measured & { peakReset: boolean }> {
  const peakReset = resetPeakRss(node.pid)
  const before = procStatusBytes(node.pid, 'VmRSS')
  const start = performance.now()
  await transfer()
  const seconds = (performance.now() - start) / 1000
  return { growth: procStatusBytes(node.pid, 'VmHWM') - before, seconds, peakReset }
}

async function roundTrip(node: NodeProcess, label: string): Promise<string> {
  await createGenericRepo(node, 'large')
  const url = `${node.url}/generic/large/images/disk-${label}.img`
  const body = new RandomBody(0x5eed, SIZE)
  let putJson: { size: number; checksums: { sha256: string } } | undefined
  let putStatus = 0

  const put = await measure(node, async () => {
    const res = await request(url, {
      method: 'PUT',
      body,
      headers: { authorization: node.adminAuth, 'content-length': String(SIZE), 'content-type': 'application/octet-stream' },
      headersTimeout: TEN_MINUTES,
      bodyTimeout: TEN_MINUTES,
    })
    putStatus = res.statusCode
    putJson = (await res.body.json()) as typeof putJson
  })
  expect(putStatus, JSON.stringify(putJson)).toBe(201)
  const sent = body.sha256()
  expect(putJson?.size).toBe(SIZE)
  expect(putJson?.checksums.sha256).toBe(sent)

  let headerSha = ''
  let got = { sha256: '', size: -1 }
  const get = await measure(node, async () => {
    const res = await request(url, { headers: { authorization: node.adminAuth }, headersTimeout: TEN_MINUTES, bodyTimeout: TEN_MINUTES })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-length']).toBe(String(SIZE))
    headerSha = String(res.headers['x-checksum-sha256'])
    got = await hashBody(res.body)
  })
  expect(headerSha).toBe(sent)
  expect(got.size).toBe(SIZE)
  expect(got.sha256).toBe(sent)

  const mb = SIZE / 1e6
  process.stdout.write(
    `[large-artifact ${label}] ${SIZE} bytes: PUT ${put.seconds.toFixed(1)} s (${(mb / put.seconds).toFixed(0)} MB/s), ` +
      `RSS +${(put.growth / MiB).toFixed(1)} MiB; GET ${get.seconds.toFixed(1)} s (${(mb / get.seconds).toFixed(0)} MB/s), ` +
      `RSS +${(get.growth / MiB).toFixed(1)} MiB${put.peakReset ? '' : ' (VmHWM could not be reset: lifetime peak)'}\n`,
  )
  expect(put.growth, 'peak RSS growth of the node during the PUT').toBeLessThan(MAX_RSS_GROWTH)
  expect(get.growth, 'peak RSS growth of the node during the GET').toBeLessThan(MAX_RSS_GROWTH)
  return sent
}

describe(`a ${SIZE === GiB ? '1 GiB' : `${SIZE}-byte`} generic artifact`, () => {
  let node: NodeProcess | undefined
  let s3: S3rverProcess | undefined

  afterEach(async () => {
    await node?.stop()
    if (node) rmSync(node.dataDir, { recursive: true, force: true })
    await s3?.stop()
    node = undefined
    s3 = undefined
  })

  it(
    'round-trips through the filesystem backend with the same sha256 both ways and bounded node memory',
    async () => {
      node = await startNodeProcess()
      await roundTrip(node, 'fs')
    },
    TEN_MINUTES,
  )

  it(
    'round-trips through the S3 backend (s3rver) with the same sha256 both ways and bounded node memory',
    async () => {
      s3 = await startS3rver()
      node = await startNodeProcess({ env: s3.nodeEnv })
      const sha256 = await roundTrip(node, 's3')

      // The bytes really live in the bucket, not in the node's data directory.
      const client = new S3Client({
        endpoint: s3.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      })
      try {
        const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }))
        const objects = (listed.Contents ?? []).filter((o) => o.Key?.endsWith(sha256))
        expect(objects.map((o) => o.Size)).toEqual([SIZE])
      } finally {
        client.destroy()
      }
    },
    TEN_MINUTES,
  )
})
