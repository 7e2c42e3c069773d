import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { createFsDriver, createMemoryDriver, createS3Driver, MiB } from '../../store/index.ts'
import { blobDriverConformance } from './driver-conformance.ts'
import { S3_CREDENTIALS, startS3Server, type S3Server } from './s3-server.ts'

const PART_SIZE = 5 * MiB
let s3: { server: S3Server } | undefined

blobDriverConformance('memory', async () => ({ driver: createMemoryDriver(), close: async () => {} }))

blobDriverConformance('fs', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ak-fs-driver-'))
  return { driver: createFsDriver(join(root, 'blobs')), close: async () => rmSync(root, { recursive: true, force: true }) }
})

blobDriverConformance(
  's3 (s3rver on loopback)',
  async () => {
    const server = await startS3Server()
    const driver = createS3Driver({
      bucket: server.bucket,
      endpoint: server.endpoint,
      forcePathStyle: true,
      ...S3_CREDENTIALS,
      partSize: PART_SIZE,
      prefix: 'node-a/',
    })
    s3 = { server }
    return { driver, close: () => server.close() }
  },
  {
    partSize: PART_SIZE,
    // The large blob went up as a multipart upload: one part request per PART_SIZE.
    checkLarge: async (key, size) => {
      if (!s3) throw new Error('s3rver not started')
      const parts = s3.server.requests.filter((r) => r.startsWith('PUT ') && r.includes(key) && /[?&]partNumber=/.test(r))
      expect(parts).toHaveLength(Math.ceil(size / PART_SIZE))
      expect(s3.server.requests.some((r) => r.startsWith('POST ') && r.includes(key) && /[?&]uploadId=/.test(r))).toBe(true)
    },
  },
)
