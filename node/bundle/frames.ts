import { createHash, type Hash } from 'node:crypto'
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import { once } from 'node:events'
import { BUNDLE_IO_BUFFER, BUNDLE_MAGIC, BUNDLE_VERSION, MAX_JSON_FRAME_BYTES, SIGNATURE_DOMAIN } from './constants.ts'
import { BundleError } from './errors.ts'

/** The bytes the trailer signature signs, given the sha256 of everything before the signature. */
export function signedMessage(prefixDigest: Buffer): Buffer {
  return Buffer.concat([SIGNATURE_DOMAIN, prefixDigest])
}

/**
 * Writes a bundle file: every byte goes through a running sha256 (what the trailer signs), and
 * every write waits for 'drain' when the file stream's buffer is full (backpressure).
 */
export class BundleWriter {
  private readonly out: WriteStream
  private readonly hash: Hash = createHash('sha256')
  private failed: Error | undefined
  bytes = 0
  /** sha256 of the whole file, once finished. */
  fileSha256 = ''

  constructor(file: string) {
    this.out = createWriteStream(file, { flags: 'wx', mode: 0o644, highWaterMark: BUNDLE_IO_BUFFER, flush: true })
    this.out.on('error', (err) => (this.failed ??= err))
  }

  async write(buf: Uint8Array): Promise<void> {
    if (this.failed) throw this.failed
    this.hash.update(buf)
    this.bytes += buf.length
    if (!this.out.write(buf)) {
      await Promise.race([once(this.out, 'drain'), once(this.out, 'error').then(([err]) => Promise.reject(err as Error))])
    }
  }

  async magic(): Promise<void> {
    const version = Buffer.alloc(2)
    version.writeUInt16BE(BUNDLE_VERSION)
    await this.write(Buffer.concat([BUNDLE_MAGIC, version]))
  }

  /** A tag, a u32 length and a JSON body. */
  async jsonFrame(tag: number, value: unknown, extra?: Buffer): Promise<void> {
    const body = Buffer.from(JSON.stringify(value), 'utf8')
    const head = Buffer.alloc(5)
    head.writeUInt8(tag, 0)
    head.writeUInt32BE(body.length, 1)
    await this.write(extra ? Buffer.concat([head, body, extra]) : Buffer.concat([head, body]))
  }

  /** sha256 of every byte written so far. */
  digest(): Buffer {
    return this.hash.copy().digest()
  }

  /** Writes the final bytes (unhashed: the signature), flushes and fsyncs. */
  async finish(signature: Uint8Array): Promise<void> {
    if (this.failed) throw this.failed
    this.fileSha256 = this.hash.copy().update(signature).digest('hex')
    this.bytes += signature.length
    this.out.end(signature)
    await once(this.out, 'close')
    if (this.failed) throw this.failed
  }

  destroy(): void {
    this.out.destroy()
  }
}

/**
 * Reads a bundle file front to back with bounded memory, hashing every byte it hands out: a
 * pending list of file chunks, from which exact byte counts are taken or streamed.
 */
export class BundleReader {
  private readonly source: AsyncIterator<Buffer>
  private pending: Buffer[] = []
  private pendingBytes = 0
  private ended = false
  private readonly hash: Hash = createHash('sha256')
  /** Bytes consumed so far (the file offset). */
  offset = 0

  constructor(
    file: string,
    private readonly onProgress: (offset: number) => void = () => {},
  ) {
    this.source = (createReadStream(file, { highWaterMark: BUNDLE_IO_BUFFER }) as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false
    const next = await this.source.next()
    if (next.done) {
      this.ended = true
      return false
    }
    this.pending.push(next.value)
    this.pendingBytes += next.value.length
    return true
  }

  /** Takes up to `max` bytes already read (reading one more chunk when none is). */
  private async take(max: number): Promise<Buffer | undefined> {
    if (this.pendingBytes === 0 && !(await this.fill())) return undefined
    const first = this.pending[0] as Buffer
    let out: Buffer
    if (first.length <= max) {
      out = first
      this.pending.shift()
    } else {
      out = first.subarray(0, max)
      this.pending[0] = first.subarray(max)
    }
    this.pendingBytes -= out.length
    this.hash.update(out)
    this.offset += out.length
    this.onProgress(this.offset)
    return out
  }

  /** Exactly n bytes (n is bounded by the caller), or AK_BUNDLE_TRUNCATED. */
  async exact(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = []
    let got = 0
    while (got < n) {
      const b = await this.take(n - got)
      if (!b) throw new BundleError('AK_BUNDLE_TRUNCATED', `bundle truncated at byte ${this.offset} (in ${what})`)
      parts.push(b)
      got += b.length
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)
  }

  /** Streams exactly n bytes, chunk by chunk (pulled: nothing is read ahead of the consumer). */
  async *stream(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n
    while (left > 0) {
      const b = await this.take(Math.min(left, BUNDLE_IO_BUFFER))
      if (!b) throw new BundleError('AK_BUNDLE_TRUNCATED', `bundle truncated at byte ${this.offset} (in ${what})`)
      left -= b.length
      yield b
    }
  }

  async magic(): Promise<void> {
    const head = await this.exact(BUNDLE_MAGIC.length + 2, 'the file magic')
    if (!head.subarray(0, BUNDLE_MAGIC.length).equals(BUNDLE_MAGIC)) {
      throw new BundleError('AK_BUNDLE_MALFORMED', 'not an Artifact Keeper bundle (bad magic)')
    }
    const version = head.readUInt16BE(BUNDLE_MAGIC.length)
    if (version !== BUNDLE_VERSION) throw new BundleError('AK_BUNDLE_MALFORMED', `bundle format version ${version} is not supported (this node reads ${BUNDLE_VERSION})`)
  }

  /** The next frame's tag. */
  async tag(): Promise<number> {
    return (await this.exact(1, 'a frame tag'))[0] as number
  }

  /** A u32 length and that many bytes of JSON, parsed. */
  async json(what: string): Promise<unknown> {
    const len = (await this.exact(4, `the length of ${what}`)).readUInt32BE(0)
    if (len > MAX_JSON_FRAME_BYTES) throw new BundleError('AK_BUNDLE_MALFORMED', `${what} claims ${len} bytes, over the ${MAX_JSON_FRAME_BYTES}-byte limit`)
    const body = await this.exact(len, what)
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as unknown
    } catch {
      throw new BundleError('AK_BUNDLE_MALFORMED', `${what} at byte ${this.offset - len} is not UTF-8 JSON`)
    }
  }

  /** sha256 of every byte consumed so far. */
  digest(): Buffer {
    return this.hash.copy().digest()
  }

  /** True when no byte is left (call after the trailer). */
  async atEnd(): Promise<boolean> {
    if (this.pendingBytes > 0) return false
    return !(await this.fill())
  }

  async close(): Promise<void> {
    await this.source.return?.()
  }
}
