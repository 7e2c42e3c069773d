/** A real S3-protocol server (s3rver) on 127.0.0.1 with an OS-chosen port, for driver tests. */
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Server } from 'node:http'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>
  close(): Promise<void>
  httpServer: Server
}
// s3rver ships CommonJS without type definitions.
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance

export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }

export interface S3Server {
  endpoint: string
  bucket: string
  /** "METHOD /path?query" of every request the server received, in order. */
  requests: string[]
  close(): Promise<void>
}

export async function startS3Server(bucket = 'ak-test'): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'ak-s3rver-'))
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory })
  const { port } = await server.run()
  const requests: string[] = []
  server.httpServer.on('request', (req: { method?: string; url?: string }) => requests.push(`${req.method} ${req.url}`))
  const endpoint = `http://127.0.0.1:${port}`
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_CREDENTIALS })
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
  } finally {
    client.destroy()
  }
  return {
    endpoint,
    bucket,
    requests,
    async close() {
      await server.close()
      rmSync(directory, { recursive: true, force: true })
    },
  }
}
