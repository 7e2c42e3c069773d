import { Readable } from 'node:stream'
import { BodyTooLargeError, InvalidInputError } from '../../store/index.ts'

/**
 * Reads a cargo publish body in order without buffering it whole:
 * u32 LE length, JSON metadata, u32 LE length, .crate bytes.
 * https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish
 */
export class PublishBodyReader {
  private readonly chunks: AsyncIterator<Buffer>
  private pending: Buffer | undefined
  private ended = false
  /** Bytes consumed so far. */
  offset = 0

  constructor(source: AsyncIterable<Buffer>) {
    this.chunks = source[Symbol.asyncIterator]()
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.pending) {
      const p = this.pending
      this.pending = undefined
      return p
    }
    if (this.ended) return undefined
    const r = await this.chunks.next()
    if (r.done) {
      this.ended = true
      return undefined
    }
    return r.value
  }

  /** Exactly `n` bytes (n small: the lengths and the bounded JSON part). */
  async readExact(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = []
    let have = 0
    while (have < n) {
      const chunk = await this.next()
      if (!chunk) throw new InvalidInputError(`the publish body ended inside ${what} (${have} of ${n} bytes)`)
      const take = Math.min(n - have, chunk.length)
      parts.push(chunk.subarray(0, take))
      if (take < chunk.length) this.pending = chunk.subarray(take)
      have += take
    }
    this.offset += n
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)
  }

  async readU32(what: string): Promise<number> {
    return (await this.readExact(4, what)).readUInt32LE(0)
  }

  /** A stream of the next `n` bytes, pulled from the body only as fast as it is consumed. */
  take(n: number, what: string): Readable {
    return Readable.from(this.pull(n, what), { objectMode: false })
  }

  private async *pull(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n
    while (left > 0) {
      const chunk = await this.next()
      if (!chunk) throw new InvalidInputError(`the publish body ended inside ${what} (${n - left} of ${n} bytes)`)
      const piece = chunk.length > left ? chunk.subarray(0, left) : chunk
      if (piece.length < chunk.length) this.pending = chunk.subarray(piece.length)
      left -= piece.length
      this.offset += piece.length
      yield piece
    }
  }

  /** Throws when anything follows the parts the lengths announced. */
  async expectEnd(): Promise<void> {
    for (;;) {
      const chunk = await this.next()
      if (!chunk) return
      if (chunk.length > 0) throw new InvalidInputError('the publish body is longer than its length fields announce')
    }
  }
}

export interface PublishBodyLimits {
  maxJsonBytes: number
  maxCrateBytes: number
}

/** Reads the JSON part's length and bytes, bounded. */
export async function readPublishJson(reader: PublishBodyReader, limits: PublishBodyLimits): Promise<Buffer> {
  const jsonLength = await reader.readU32('the metadata length')
  if (jsonLength === 0) throw new InvalidInputError('the publish metadata is empty')
  if (jsonLength > limits.maxJsonBytes) {
    throw new BodyTooLargeError(`the publish metadata is ${jsonLength} bytes; at most ${limits.maxJsonBytes} are accepted`)
  }
  return reader.readExact(jsonLength, 'the metadata')
}

/** Reads the .crate length, bounded, and checks it against the announced Content-Length. */
export async function readCrateLength(reader: PublishBodyReader, limits: PublishBodyLimits, contentLength: number | undefined): Promise<number> {
  const crateLength = await reader.readU32('the .crate length')
  if (crateLength === 0) throw new InvalidInputError('the .crate is empty')
  if (crateLength > limits.maxCrateBytes) {
    throw new BodyTooLargeError(`the .crate is ${crateLength} bytes; at most ${limits.maxCrateBytes} are accepted`)
  }
  if (contentLength !== undefined && reader.offset + crateLength !== contentLength) {
    throw new InvalidInputError(
      `the length fields announce ${reader.offset + crateLength} bytes but the request carries ${contentLength}`,
    )
  }
  return crateLength
}
