import { Transform, type TransformCallback } from 'node:stream'
import { BodyTooLargeError, InvalidInputError, MalformedJsonError } from '../../store/index.ts'

const QUOTE = 0x22
const BACKSLASH = 0x5c
const SLASH = 0x2f

type FrameState = 'key' | 'colon' | 'value' | 'comma'

interface Frame {
  kind: 'object' | 'array'
  state: FrameState
  /** The key whose value is being read (objects). */
  key: string | undefined
}

/** Where the base64 text of one attachment goes while the body streams in. */
export interface AttachmentSink {
  write(base64: Buffer): void
  /** The data string has closed. */
  end(): void
}

/**
 * A streaming scanner for npm's publish document (`PUT /{name}`, npm registry API):
 * `{…, versions: {…}, _attachments: {"<file>": {content_type, data: "<base64>", length}}}`.
 *
 * Everything except the text of `_attachments.<file>.data` is collected (bounded by
 * `maxMetadataBytes`) and parsed with JSON.parse at the end; the data string is not collected but
 * handed to `openAttachment(file)`'s sink chunk by chunk as it arrives, so a tarball never sits
 * in memory. The scanner tracks just enough JSON structure to know where it is; the collected
 * text is validated by JSON.parse, which sees `"data": ""` in place of the base64.
 */
export class PublishBodyScanner {
  private readonly meta: Buffer[] = []
  private metaBytes = 0
  private readonly stack: Frame[] = []
  private started = false
  private done = false
  private inString = false
  private escaped = false
  private literal = false
  private stringRole: 'key' | 'value' | 'data' = 'value'
  private keyParts: Buffer[] = []
  private sink: AttachmentSink | undefined
  private readonly attachmentNames: string[] = []

  constructor(
    private readonly maxMetadataBytes: number,
    private readonly openAttachment: (file: string) => AttachmentSink,
  ) {}

  /** Names of the attachments seen so far, in order. */
  get attachments(): readonly string[] {
    return this.attachmentNames
  }

  private addMeta(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return
    this.metaBytes += to - from
    if (this.metaBytes > this.maxMetadataBytes) {
      throw new BodyTooLargeError(`the publish document without its tarball exceeds ${this.maxMetadataBytes} bytes`)
    }
    this.meta.push(Buffer.from(chunk.subarray(from, to)))
  }

  private malformed(what: string): never {
    throw new MalformedJsonError(`malformed publish document: ${what}`)
  }

  private top(): Frame | undefined {
    return this.stack[this.stack.length - 1]
  }

  /** Whether a string value starting now is `_attachments.<file>.data`. */
  private atAttachmentData(): boolean {
    const s = this.stack
    return (
      s.length === 3 &&
      s[0]?.kind === 'object' &&
      s[0].key === '_attachments' &&
      s[1]?.kind === 'object' &&
      s[2]?.kind === 'object' &&
      s[2].key === 'data'
    )
  }

  /** A value is about to start: the container must be expecting one. */
  private beginValue(): void {
    const t = this.top()
    if (!t) {
      if (this.started) this.malformed('more than one top-level value')
      this.started = true
      return
    }
    if (t.state !== 'value') this.malformed('unexpected value')
  }

  private endValue(): void {
    const t = this.top()
    if (!t) {
      this.done = true
      return
    }
    t.state = 'comma'
  }

  /** Feeds the next bytes of the body. Throws MalformedJsonError, BodyTooLargeError or InvalidInputError. */
  write(chunk: Buffer): void {
    const n = chunk.length
    let metaFrom = 0
    let i = 0
    // Cached position of the next backslash, for the fast path through the base64 text.
    let nextBackslash = -2
    while (i < n) {
      if (this.inString && this.stringRole === 'data') {
        if (this.escaped) {
          // JSON may escape '/' as '\/'; base64 needs no other escape.
          if (chunk[i] !== SLASH) this.malformed('unexpected escape in attachment data')
          this.sink?.write(Buffer.from('/'))
          this.escaped = false
          i++
          continue
        }
        const quote = chunk.indexOf(QUOTE, i)
        if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = chunk.indexOf(BACKSLASH, i)
        let stop = quote < 0 ? n : quote
        if (nextBackslash >= 0 && nextBackslash < stop) stop = nextBackslash
        if (stop > i) this.sink?.write(chunk.subarray(i, stop))
        if (stop === n) {
          i = n
          metaFrom = n
          break
        }
        if (chunk[stop] === BACKSLASH) {
          this.escaped = true
          i = stop + 1
          continue
        }
        // The closing quote: it goes into the metadata, so the document reads `"data": ""`.
        this.inString = false
        this.sink?.end()
        this.sink = undefined
        metaFrom = stop
        i = stop + 1
        this.endValue()
        continue
      }
      const c = chunk[i] as number
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false
        } else if (c === BACKSLASH) {
          this.escaped = true
        } else if (c === QUOTE) {
          this.inString = false
          if (this.stringRole === 'key') {
            this.keyParts.push(chunk.subarray(this.keyChunk === chunk ? this.keyStart : 0, i))
            this.finishKey()
          } else {
            this.endValue()
          }
        }
        i++
        continue
      }
      if (this.literal) {
        // Inside a number, true, false or null: ends at the first structural character or space.
        if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2b || c === 0x2d || c === 0x2e) {
          i++
          continue
        }
        this.literal = false
        this.endValue()
      }
      if (this.done) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          i++
          continue
        }
        this.malformed('data after the document')
      }
      switch (c) {
        case 0x20:
        case 0x0a:
        case 0x0d:
        case 0x09:
          break
        case QUOTE: {
          const t = this.top()
          if (t?.kind === 'object' && t.state === 'key') {
            this.stringRole = 'key'
            this.keyParts = []
            this.keyStart = i + 1
            this.keyChunk = chunk
          } else {
            this.beginValue()
            if (this.atAttachmentData()) {
              this.stringRole = 'data'
              this.startAttachment()
              // Keep the opening quote in the metadata; the base64 text is left out.
              this.addMeta(chunk, metaFrom, i + 1)
              metaFrom = i + 1
              nextBackslash = -2
            } else {
              this.stringRole = 'value'
            }
          }
          this.inString = true
          break
        }
        case 0x7b: // {
        case 0x5b: // [
          this.beginValue()
          this.stack.push({ kind: c === 0x7b ? 'object' : 'array', state: c === 0x7b ? 'key' : 'value', key: undefined })
          if (this.stack.length === 1 && c !== 0x7b) this.malformed('the document must be an object')
          break
        case 0x7d: // }
        case 0x5d: {
          // ]
          const t = this.stack.pop()
          if (!t || t.kind !== (c === 0x7d ? 'object' : 'array')) this.malformed('unbalanced brackets')
          if (t.state === 'colon') this.malformed('key without value')
          this.endValue()
          break
        }
        case 0x3a: {
          // :
          const t = this.top()
          if (t?.state !== 'colon') this.malformed("unexpected ':'")
          t.state = 'value'
          break
        }
        case 0x2c: {
          // ,
          const t = this.top()
          if (t?.state !== 'comma') this.malformed("unexpected ','")
          t.state = t.kind === 'object' ? 'key' : 'value'
          break
        }
        default:
          if (!this.started && this.stack.length === 0) this.malformed('the document must be an object')
          this.beginValue()
          this.literal = true
      }
      i++
    }
    if (this.inString && this.stringRole === 'key') {
      // A key continued in the next chunk: keep a copy of this part.
      this.keyParts.push(Buffer.from(chunk.subarray(this.keyChunk === chunk ? this.keyStart : 0, n)))
      this.keyChunk = undefined
    }
    if (!(this.inString && this.stringRole === 'data')) this.addMeta(chunk, metaFrom, n)
  }

  /** Where the key being read starts, in the chunk it started in. */
  private keyStart = 0
  private keyChunk: Buffer | undefined

  private finishKey(): void {
    const raw = Buffer.concat(this.keyParts)
    this.keyParts = []
    this.keyChunk = undefined
    let key: string
    try {
      key = JSON.parse(`"${raw.toString('utf8')}"`) as string
    } catch {
      this.malformed('bad object key')
    }
    const t = this.top() as Frame
    t.key = key
    t.state = 'colon'
  }

  private startAttachment(): void {
    const name = this.stack[1]?.key ?? ''
    if (this.attachmentNames.length > 0) throw new InvalidInputError('a publish may carry exactly one attachment (the tarball)')
    this.attachmentNames.push(name)
    this.sink = this.openAttachment(name)
  }

  /** The document without attachment data, parsed. Call once the body has ended. */
  end(): Record<string, unknown> {
    if (!this.done || this.inString) this.malformed('the body ended early')
    let doc: unknown
    try {
      doc = JSON.parse(Buffer.concat(this.meta).toString('utf8'))
    } catch (err) {
      this.malformed((err as Error).message)
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) this.malformed('the document must be an object')
    return doc as Record<string, unknown>
  }
}

const BASE64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Decodes a stream of base64 text into bytes, four characters at a time, refusing anything
 * outside the base64 alphabet (Buffer.from would silently skip it and store other bytes).
 */
export class Base64Decoder extends Transform {
  private rest = ''
  private ended = false

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const text = this.rest + chunk.toString('latin1')
    if (this.ended || !BASE64_TEXT.test(text)) {
      done(new InvalidInputError('the attachment data is not valid base64'))
      return
    }
    if (text.endsWith('=')) this.ended = true
    const whole = this.ended ? text.length : text.length - (text.length % 4)
    this.rest = text.slice(whole)
    done(null, whole > 0 ? Buffer.from(text.slice(0, whole), 'base64') : undefined)
  }

  override _flush(done: TransformCallback): void {
    if (this.rest.length % 4 === 1) {
      done(new InvalidInputError('the attachment data is not valid base64'))
      return
    }
    done(null, this.rest.length > 0 ? Buffer.from(this.rest, 'base64') : undefined)
  }
}
