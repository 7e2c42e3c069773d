import { readFile, unlink } from 'node:fs/promises'
import { Readable } from 'node:stream'
import type { BlobDriver, ByteRange, DriverObject } from './blob-driver.ts'
import { BlobNotFoundError } from './errors.ts'

/**
 * In-memory driver for unit tests of logic above the driver. Holds whole objects in memory
 * by design, so it is never used by a running node.
 */
export function createMemoryDriver(): BlobDriver {
  return new MemoryDriver()
}

class MemoryDriver implements BlobDriver {
  readonly kind = 'memory'
  private readonly objects = new Map<string, { data: Buffer; mtimeMs: number }>()

  async putFile(key: string, filePath: string): Promise<void> {
    this.objects.set(key, { data: await readFile(filePath), mtimeMs: Date.now() })
    await unlink(filePath)
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const o = this.objects.get(key)
    if (!o) throw new BlobNotFoundError(`blob ${key} not found`)
    return Readable.from(range ? [o.data.subarray(range.start, range.end + 1)] : [o.data])
  }

  async stat(key: string): Promise<DriverObject | undefined> {
    const o = this.objects.get(key)
    return o ? { key, size: o.data.length, mtimeMs: o.mtimeMs } : undefined
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key)
  }

  async *list(): AsyncIterable<DriverObject> {
    for (const [key, o] of this.objects) yield { key, size: o.data.length, mtimeMs: o.mtimeMs }
  }

  async check(): Promise<void> {}
}
