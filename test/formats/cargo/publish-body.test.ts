import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { PublishBodyReader, readCrateLength, readPublishJson } from '../../../formats/cargo/index.ts'
import { publishBody } from '../../e2e/cargo/crate-builder.ts'

const limits = { maxJsonBytes: 1024, maxCrateBytes: 1024 * 1024 }

/** Splits a buffer into chunks of `size` bytes, as a socket might deliver it. */
function* chunked(b: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size)
}

async function drain(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of r) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

describe('splitting a cargo publish body', () => {
  it('yields the JSON and the .crate bytes whatever the chunk boundaries', async () => {
    const crate = Buffer.from('0123456789'.repeat(300))
    const body = publishBody({ name: 'a', vers: '1.0.0' }, crate)
    for (const size of [1, 3, 7, 4096, body.length]) {
      const reader = new PublishBodyReader(Readable.from(chunked(body, size)))
      const json = await readPublishJson(reader, limits)
      expect(JSON.parse(json.toString())).toEqual({ name: 'a', vers: '1.0.0' })
      const n = await readCrateLength(reader, limits, body.length)
      expect(await drain(reader.take(n, 'the .crate'))).toEqual(crate)
      await reader.expectEnd()
    }
  })

  it('refuses a body that ends early, inside the JSON or inside the .crate', async () => {
    const body = publishBody({ name: 'a', vers: '1.0.0' }, Buffer.alloc(100))
    let reader = new PublishBodyReader(Readable.from([body.subarray(0, 10)]))
    await expect(readPublishJson(reader, limits)).rejects.toThrow(/ended inside the metadata/)
    reader = new PublishBodyReader(Readable.from([body.subarray(0, body.length - 10)]))
    await readPublishJson(reader, limits)
    const n = await readCrateLength(reader, limits, undefined)
    await expect(drain(reader.take(n, 'the .crate'))).rejects.toThrow(/ended inside the .crate \(90 of 100 bytes\)/)
  })

  it('refuses length fields that disagree with Content-Length or leave bytes over', async () => {
    const body = publishBody({ name: 'a' }, Buffer.alloc(100), { crateLength: 50 })
    let reader = new PublishBodyReader(Readable.from([body]))
    await readPublishJson(reader, limits)
    await expect(readCrateLength(reader, limits, body.length)).rejects.toThrow(/announce .* bytes but the request carries/)
    reader = new PublishBodyReader(Readable.from([body]))
    await readPublishJson(reader, limits)
    await drain(reader.take(await readCrateLength(reader, limits, undefined), 'the .crate'))
    await expect(reader.expectEnd()).rejects.toThrow(/longer than its length fields/)
  })

  it('refuses an oversized JSON part before reading it, and an empty or oversized .crate', async () => {
    const reader = new PublishBodyReader(Readable.from([publishBody(Buffer.alloc(10), Buffer.alloc(1), { jsonLength: 5_000_000 })]))
    await expect(readPublishJson(reader, limits)).rejects.toThrow(/at most 1024 are accepted/)
    const empty = new PublishBodyReader(Readable.from([publishBody({ a: 1 }, Buffer.alloc(0))]))
    await readPublishJson(empty, limits)
    await expect(readCrateLength(empty, limits, undefined)).rejects.toThrow(/is empty/)
    const big = new PublishBodyReader(Readable.from([publishBody({ a: 1 }, Buffer.alloc(1), { crateLength: 2 ** 31 })]))
    await readPublishJson(big, limits)
    await expect(readCrateLength(big, limits, undefined)).rejects.toThrow(/at most 1048576 are accepted/)
  })

  // Backpressure: the .crate part is pulled from the request only as fast as the store
  // consumes it, so a slow store never makes the node buffer the whole upload.
  it('pulls the .crate part from the source only as it is consumed', async () => {
    const chunk = Buffer.alloc(64 * 1024)
    const total = 64
    let pulled = 0
    const head = publishBody({ a: 1 }, Buffer.alloc(0), { crateLength: total * chunk.length })
    async function* source(): AsyncGenerator<Buffer> {
      yield head
      for (let i = 0; i < total; i++) {
        pulled++
        yield chunk
      }
    }
    const reader = new PublishBodyReader(source())
    await readPublishJson(reader, limits)
    const n = await readCrateLength(reader, { ...limits, maxCrateBytes: 2 ** 30 }, undefined)
    const part = reader.take(n, 'the .crate')
    let consumed = 0
    for await (const c of part) {
      consumed += (c as Buffer).length / chunk.length
      await new Promise((r) => setImmediate(r))
      // Readable.from keeps at most its highWaterMark (16 chunks in object terms) ahead.
      expect(pulled - consumed).toBeLessThanOrEqual(17)
    }
    expect(consumed).toBe(total)
  })
})
