import type { Readable } from 'node:stream'

/** An inclusive byte range, as HTTP Range headers count. */
export interface ByteRange {
  start: number
  end: number
}

export interface DriverObject {
  key: string
  size: number
  mtimeMs: number
}

/**
 * Where blob bytes live. Thin on purpose: the registry logic (hashing, dedupe, verification)
 * is written once in BlobStore over these few methods. Keys are sha256 hex digests.
 */
export interface BlobDriver {
  /** A name for logs and /ready ("fs", "s3", "memory"). */
  readonly kind: string
  /** Moves a finished, fsynced local file into the store under `key`. The file is consumed. */
  putFile(key: string, filePath: string, size: number): Promise<void>
  /** Streams the object's bytes, or the inclusive `range` of them. Rejects with BlobNotFoundError. */
  read(key: string, range?: ByteRange): Promise<Readable>
  /** Size and modification time, or undefined when the object does not exist. */
  stat(key: string): Promise<DriverObject | undefined>
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>
  /** Every stored object, in no particular order. */
  list(): AsyncIterable<DriverObject>
  /** Cheap liveness check for /ready. */
  check(): Promise<void>
}
