import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'

const MiB = 1024 * 1024
const SIZE = 200 * MiB

/** 200 MiB of bytes that differ per MiB, generated on the fly (never held whole). */
function* payload(): Generator<Buffer> {
  for (let i = 0; i < SIZE / MiB; i++) {
    const chunk = Buffer.alloc(MiB, i & 0xff)
    chunk.writeUInt32BE(i, 0)
    yield chunk
  }
}

/**
 * A 200 MiB generic file pulled through a remote repository is streamed to the client while it
 * is stored: the edge node's resident memory must not grow with the file (the tee applies
 * backpressure from both the store and the client).
 */
describe('a large file through a remote repository', () => {
  let upstream: NodeProcess
  let edge: NodeProcess
  let expected: string

  beforeAll(async () => {
    upstream = await startNodeProcess()
    edge = await startNodeProcess()
    const post = (node: NodeProcess, body: unknown) =>
      fetch(`${node.url}/api/v1/repositories`, {
        method: 'POST',
        headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    expect((await post(upstream, { key: 'big', format: 'generic', public: true })).status).toBe(201)
    expect((await post(edge, { key: 'big-remote', format: 'generic', type: 'remote', public: true, upstream: { url: `${upstream.url}/generic/big` } })).status).toBe(201)
    const hash = createHash('sha256')
    for (const c of payload()) hash.update(c)
    expected = hash.digest('hex')
    const put = await fetch(`${upstream.url}/generic/big/large.bin`, {
      method: 'PUT',
      headers: { authorization: upstream.adminAuth, 'content-length': String(SIZE) },
      body: Readable.toWeb(Readable.from(payload())) as ReadableStream,
      duplex: 'half',
    } as RequestInit)
    expect(put.status).toBe(201)
  }, 180_000)

  afterAll(async () => {
    await edge?.stop()
    await upstream?.stop()
  })

  it('keeps the edge RSS growth bounded while it streams and stores 200 MiB', async () => {
    const before = edge.rss()
    let peak = before
    const sampler = setInterval(() => {
      peak = Math.max(peak, edge.rss())
    }, 50)
    try {
      const res = await fetch(`${edge.url}/generic/big-remote/large.bin`, { signal: AbortSignal.timeout(150_000) })
      expect(res.status).toBe(200)
      expect(res.headers.get('x-ak-cache')).toBe('MISS')
      expect(res.headers.get('content-length')).toBe(String(SIZE))
      const hash = createHash('sha256')
      let received = 0
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk)
        received += chunk.length
      }
      expect(received).toBe(SIZE)
      expect(hash.digest('hex')).toBe(expected)
    } finally {
      clearInterval(sampler)
    }
    // Half the file: holding the artifact whole (or most of it) fails; hasher worker threads,
    // heap growth and the socket and tee buffers fit (about 60 MiB measured on this machine class).
    const growth = peak - before
    expect(growth, `edge RSS grew by ${(growth / MiB).toFixed(1)} MiB`).toBeLessThan(SIZE / 2)
    // It was stored on the way: the second read is a hit with the same bytes.
    const again = await fetch(`${edge.url}/generic/big-remote/large.bin`, { method: 'HEAD' })
    expect(again.headers.get('x-ak-cache')).toBe('HIT')
    expect(again.headers.get('etag')).toBe(`"${expected}"`)
  }, 180_000)
})
