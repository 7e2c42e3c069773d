import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import busboy from 'busboy'
import { bodyWatchdog, BodyTooLargeError, ClientAbortedError, InvalidInputError, type BlobDigests, type ClientBodyLimits } from '../../store/index.ts'
import { MAX_FORM_FIELD_BYTES, MAX_FORM_FIELDS, MAX_SIDE_FILE_BYTES } from './constants.ts'

/** The fields of an upload form, each name with every value it was sent with. */
export type FormFields = Map<string, string[]>

export interface UploadForm {
  fields: FormFields
  /** The `content` part, already ingested into the blob store; undefined when the form had none. */
  file: { filename: string; blob: BlobDigests } | undefined
}

export interface ReceiveOptions {
  /** Largest `content` file in bytes. */
  maxFileBytes: number
  /** Called when the `content` part starts, with the fields seen so far; throw to refuse early. */
  beforeFile(filename: string, fields: FormFields): void
  /** Streams the `content` part into the store (with the digests the fields announced so far). */
  ingest(file: Readable, fields: FormFields): Promise<BlobDigests>
  /** The node's limits on a client's body, applied to the whole form (the fields before the file too). */
  clientBody?: Partial<ClientBodyLimits> | undefined
}

/** The first value of a form field. */
export function field(fields: FormFields, name: string): string | undefined {
  return fields.get(name)?.[0]
}

/**
 * Parses the multipart/form-data body of the legacy upload API (the one twine uses) with busboy,
 * streaming the `content` file straight into the store: its bytes are never buffered here, and
 * busboy pauses the socket while the store is slower than the client. Other file parts
 * (gpg_signature …) are read, bounded, and dropped.
 */
export function receiveUploadForm(source: Readable, headers: IncomingHttpHeaders, options: ReceiveOptions): Promise<UploadForm> {
  return new Promise<UploadForm>((resolve, reject) => {
    let parser: busboy.Busboy
    try {
      parser = busboy({
        headers,
        defParamCharset: 'utf8',
        limits: {
          fields: MAX_FORM_FIELDS,
          fieldSize: MAX_FORM_FIELD_BYTES,
          files: 4,
          parts: MAX_FORM_FIELDS + 4,
          // One byte over the limit so the store's own check sees the overrun (busboy would truncate silently).
          fileSize: options.maxFileBytes + 1,
        },
      })
    } catch (err) {
      reject(new InvalidInputError(`Invalid upload: the body must be multipart/form-data (${(err as Error).message})`))
      return
    }
    const fields: FormFields = new Map()
    let ingesting: Promise<UploadForm['file']> | undefined
    let settled = false
    const watchdog = bodyWatchdog(options.clientBody, { source })

    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      watchdog.stop()
      source.unpipe(parser)
      parser.removeAllListeners()
      parser.on('error', () => {})
      // Drain what the client still sends, so it reads our answer instead of a reset.
      source.resume()
      reject(err)
    }

    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(new InvalidInputError(`Invalid upload: form field '${name}' exceeds ${MAX_FORM_FIELD_BYTES} bytes`))
      const values = fields.get(name) ?? []
      values.push(value)
      fields.set(name, values)
    })
    parser.on('file', (name, stream, info) => {
      if (settled) return void stream.resume()
      if (name !== 'content') {
        let bytes = 0
        stream.on('data', (chunk: Buffer) => {
          bytes += chunk.length
          if (bytes > MAX_SIDE_FILE_BYTES) fail(new BodyTooLargeError(`form file '${name}' exceeds ${MAX_SIDE_FILE_BYTES} bytes`))
        })
        return
      }
      if (ingesting) {
        stream.resume()
        return fail(new InvalidInputError('Invalid upload: more than one content file'))
      }
      try {
        options.beforeFile(info.filename ?? '', fields)
      } catch (err) {
        stream.resume()
        return fail(err)
      }
      ingesting = options.ingest(stream, fields).then((blob) => ({ filename: info.filename ?? '', blob }))
      ingesting.catch(fail)
    })
    parser.on('fieldsLimit', () => fail(new InvalidInputError(`Invalid upload: more than ${MAX_FORM_FIELDS} form fields`)))
    parser.on('partsLimit', () => fail(new InvalidInputError('Invalid upload: too many form parts')))
    parser.on('filesLimit', () => fail(new InvalidInputError('Invalid upload: too many files in the form')))
    parser.on('error', (err: Error) => fail(new InvalidInputError(`Invalid upload: malformed multipart/form-data (${err.message})`)))
    parser.on('close', () => {
      if (settled) return
      ;(ingesting ?? Promise.resolve(undefined)).then((file) => {
        if (settled) return
        settled = true
        watchdog.stop()
        resolve({ fields, file })
      }, fail)
    })
    source.on('aborted', () => fail(new ClientAbortedError('the client aborted the upload')))
    source.on('error', (err) => fail(new ClientAbortedError(`upload interrupted: ${err.message}`)))
    source.pipe(parser)
    // Piped, so flowing: this listener sees every chunk without consuming any.
    source.on('data', (chunk: Buffer) => watchdog.touch(chunk.length))
    watchdog.signal.addEventListener(
      'abort',
      () => {
        const reason = watchdog.signal.reason as Error
        fail(reason)
        parser.destroy(reason) // the content part's stream fails too, so its temp file goes now
      },
      { once: true },
    )
  })
}
