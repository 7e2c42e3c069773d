/**
 * The BlobDriver conformance suite: one set of behaviours every driver (memory, fs, S3) must
 * show, run by drivers.test.ts against each real implementation.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BlobNotFoundError, MiB, type BlobDriver } from '../../store/index.ts'

export interface DriverHarness {
  driver: BlobDriver
  /** Releases whatever the harness started (servers, temp dirs). */
  close(): Promise<void>
}

export interface ConformanceOptions {
  /** Size of the large blob; pick it above the driver's multipart part size. @default 12 MiB + 123 bytes */
  largeSize?: number
  /** Part size the harness configured, to read a range across a part boundary. @default 5 MiB */
  partSize?: number
  /** Extra checks on the stored large blob (S3: it was uploaded in parts). */
  checkLarge?: (key: string, size: number) => Promise<void>
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Uint8Array))
  return Buffer.concat(parts)
}

/** Registers the suite for one driver. `open` is called once, before the tests. */
export function blobDriverConformance(name: string, open: () => Promise<DriverHarness>, options: ConformanceOptions = {}): void {
  const largeSize = options.largeSize ?? 12 * MiB + 123
  const partSize = options.partSize ?? 5 * MiB

  describe(`BlobDriver conformance: ${name}`, () => {
    let harness: DriverHarness
    let driver: BlobDriver
    let scratch: string
    let n = 0

    beforeAll(async () => {
      harness = await open()
      driver = harness.driver
      scratch = mkdtempSync(join(tmpdir(), 'ak-driver-'))
    })
    afterAll(async () => {
      await harness?.close()
      if (scratch) rmSync(scratch, { recursive: true, force: true })
    })

    /** Writes `data` to a scratch file and puts it under its sha256; returns the key. */
    const put = async (data: Buffer): Promise<string> => {
      const file = join(scratch, `upload-${n++}`)
      writeFileSync(file, data)
      const key = sha256(data)
      await driver.putFile(key, file, data.length)
      return key
    }

    it('stores a file under its key, consumes the source file, and reads back the same bytes', async () => {
      const data = randomBytes(10_000)
      const file = join(scratch, 'consumed')
      writeFileSync(file, data)
      const key = sha256(data)
      await driver.putFile(key, file, data.length)
      expect(existsSync(file)).toBe(false)
      expect(sha256(await readAll(await driver.read(key)))).toBe(key)
    })

    it('reads inclusive byte ranges: a middle slice, the first bytes, the last byte, the whole object', async () => {
      const data = randomBytes(4096)
      const key = await put(data)
      expect(await readAll(await driver.read(key, { start: 100, end: 199 }))).toEqual(data.subarray(100, 200))
      // Not {0, 0}: s3rver 3.7 reads an end of 0 as "to the end" (its `end || Infinity`); real S3 does not.
      expect(await readAll(await driver.read(key, { start: 0, end: 1 }))).toEqual(data.subarray(0, 2))
      expect(await readAll(await driver.read(key, { start: 4095, end: 4095 }))).toEqual(data.subarray(4095))
      expect(await readAll(await driver.read(key, { start: 0, end: 4095 }))).toEqual(data)
    })

    it('stats an object with its size and a recent modification time, and a missing one as undefined', async () => {
      const data = randomBytes(777)
      const before = Date.now()
      const key = await put(data)
      const s = await driver.stat(key)
      expect(s?.key).toBe(key)
      expect(s?.size).toBe(777)
      // S3 keeps whole seconds; allow clock slack both ways.
      expect(s?.mtimeMs).toBeGreaterThan(before - 5_000)
      expect(s?.mtimeMs).toBeLessThan(Date.now() + 5_000)
      expect(await driver.stat(sha256(randomBytes(8)))).toBeUndefined()
    })

    it('rejects reading a missing key with BlobNotFoundError, with and without a range', async () => {
      const missing = sha256(randomBytes(8))
      await expect(driver.read(missing)).rejects.toBeInstanceOf(BlobNotFoundError)
      await expect(driver.read(missing, { start: 0, end: 10 })).rejects.toBeInstanceOf(BlobNotFoundError)
    })

    it('deletes an object, after which it is neither readable nor listed; deleting a missing key is fine', async () => {
      const key = await put(randomBytes(321))
      await driver.delete(key)
      expect(await driver.stat(key)).toBeUndefined()
      await expect(driver.read(key)).rejects.toBeInstanceOf(BlobNotFoundError)
      const keys: string[] = []
      for await (const o of driver.list()) keys.push(o.key)
      expect(keys).not.toContain(key)
      await expect(driver.delete(key)).resolves.toBeUndefined()
      await expect(driver.delete(sha256(randomBytes(8)))).resolves.toBeUndefined()
    })

    it('lists every stored object with its size', async () => {
      const a = randomBytes(11)
      const b = randomBytes(2222)
      const ka = await put(a)
      const kb = await put(b)
      const listed = new Map<string, number>()
      for await (const o of driver.list()) listed.set(o.key, o.size)
      expect(listed.get(ka)).toBe(11)
      expect(listed.get(kb)).toBe(2222)
      for (const key of listed.keys()) expect(key).toMatch(/^[a-f0-9]{64}$/)
    })

    it('stores the empty blob', async () => {
      const key = await put(Buffer.alloc(0))
      expect((await driver.stat(key))?.size).toBe(0)
      expect((await readAll(await driver.read(key))).length).toBe(0)
    })

    it('accepts the same key twice and keeps one object', async () => {
      const data = randomBytes(500)
      const key = await put(data)
      await put(data)
      let count = 0
      for await (const o of driver.list()) if (o.key === key) count++
      expect(count).toBe(1)
      expect(await readAll(await driver.read(key))).toEqual(data)
    })

    it(`round-trips a blob larger than the part size (${largeSize} bytes) and reads a range across a part boundary`, async () => {
      const data = randomBytes(largeSize)
      const key = await put(data)
      expect((await driver.stat(key))?.size).toBe(largeSize)
      await options.checkLarge?.(key, largeSize)
      expect(sha256(await readAll(await driver.read(key)))).toBe(key)
      const start = partSize - 1000
      const end = partSize + 999
      expect(await readAll(await driver.read(key, { start, end }))).toEqual(data.subarray(start, end + 1))
    })

    it('passes its liveness check', async () => {
      await expect(driver.check()).resolves.toBeUndefined()
    })
  })
}
