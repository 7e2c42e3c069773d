import { createReadStream } from 'node:fs'
import { mkdir, open, opendir, rename, rm, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import type { BlobDriver, ByteRange, DriverObject } from './blob-driver.ts'
import { BlobNotFoundError } from './errors.ts'
import { BLOB_IO_BUFFER } from './constants.ts'
import { SHA256_HEX } from './digests.ts'

/** Filesystem driver: blobs/sha256/ab/<digest>, placed by an atomic rename of an fsynced temp file. */
export function createFsDriver(root: string): BlobDriver {
  return new FsDriver(root)
}

class FsDriver implements BlobDriver {
  readonly kind = 'fs'
  constructor(private readonly root: string) {}

  private file(key: string): string {
    if (!SHA256_HEX.test(key)) throw new BlobNotFoundError(`invalid blob key '${key}'`)
    return join(this.root, 'sha256', key.slice(0, 2), key)
  }

  async putFile(key: string, filePath: string): Promise<void> {
    const target = this.file(key)
    const dir = dirname(target)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await rename(filePath, target)
    // The rename is durable only once the directory entry is on disk.
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.file(key)
    const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new BlobNotFoundError(`blob ${key} not found`)
      throw err
    })
    // Hand the FileHandle itself to the stream, which closes it once. (Passing handle.fd and
    // closing the handle again on 'close' closed the number twice: by then the fd could belong
    // to a file opened meanwhile, whose reads then failed with EBADF.)
    return createReadStream('', {
      fd: handle,
      start: range?.start,
      end: range?.end,
      highWaterMark: BLOB_IO_BUFFER,
      autoClose: true,
    })
  }

  async stat(key: string): Promise<DriverObject | undefined> {
    try {
      const s = await stat(this.file(key))
      return { key, size: s.size, mtimeMs: s.mtimeMs }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  async delete(key: string): Promise<void> {
    await unlink(this.file(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }

  async *list(): AsyncIterable<DriverObject> {
    const base = join(this.root, 'sha256')
    let top
    try {
      top = await opendir(base)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    for await (const prefix of top) {
      if (!prefix.isDirectory()) continue
      for await (const entry of await opendir(join(base, prefix.name))) {
        if (!entry.isFile() || !SHA256_HEX.test(entry.name)) continue
        const s = await stat(join(base, prefix.name, entry.name)).catch(() => undefined)
        if (s) yield { key: entry.name, size: s.size, mtimeMs: s.mtimeMs }
      }
    }
  }

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 })
    await stat(this.root)
  }
}

/** Removes a file or directory tree, ignoring what is already gone. */
export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true })
}
