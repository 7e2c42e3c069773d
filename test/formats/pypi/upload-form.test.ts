import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { PYPI_STATUS, planUpload, receiveUploadForm, toPypiWireError, type FormFields } from '../../../formats/pypi/index.ts'
import { ERROR_CODES, ImmutableArtifactError, type BlobDigests } from '../../../store/index.ts'

/** A multipart body as fetch would send it, as a stream plus its headers. */
async function multipart(parts: [string, string | { filename: string; data: Buffer }][]) {
  const form = new FormData()
  for (const [k, v] of parts) {
    if (typeof v === 'string') form.append(k, v)
    else form.append(k, new Blob([v.data]), v.filename)
  }
  const req = new Request('http://x/', { method: 'POST', body: form })
  const body = Buffer.from(await req.arrayBuffer())
  return { stream: Readable.from([body]), headers: { 'content-type': req.headers.get('content-type') ?? '' } }
}

const fakeDigests = (size: number): BlobDigests => ({ size } as unknown as BlobDigests)

describe('upload form parsing', () => {
  it('streams the content part to ingest with the fields sent before it', async () => {
    const data = Buffer.alloc(200_000, 1)
    const { stream, headers } = await multipart([
      [':action', 'file_upload'],
      ['name', 'a'],
      ['classifiers', 'X'],
      ['classifiers', 'Y'],
      ['content', { filename: 'a-1.tar.gz', data }],
      ['after', 'late'],
    ])
    let seenAtFile: string[] = []
    let ingested = 0
    const form = await receiveUploadForm(stream, headers, {
      maxFileBytes: 1_000_000,
      beforeFile: (_f, fields) => void (seenAtFile = [...fields.keys()]),
      ingest: async (file) => {
        await pipeline(file, new Writable({ write: (c: Buffer, _e, cb) => ((ingested += c.length), cb()) }))
        return fakeDigests(ingested)
      },
    })
    expect(seenAtFile).toEqual([':action', 'name', 'classifiers'])
    expect(ingested).toBe(data.length)
    expect(form.file?.filename).toBe('a-1.tar.gz')
    expect(form.fields.get('classifiers')).toEqual(['X', 'Y'])
    expect(form.fields.get('after')).toEqual(['late'])
  })

  it('reads the body no further ahead of a slow store than a few buffers (backpressure)', async () => {
    const boundary = 'ak-boundary'
    const CHUNK = 64 * 1024
    const CHUNKS = 256 // 16 MiB
    let produced = 0
    let consumed = 0
    let maxAhead = 0
    async function* body() {
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\na\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="a-1.tar.gz"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n'
      yield Buffer.from(head)
      for (let i = 0; i < CHUNKS; i++) {
        produced += CHUNK
        maxAhead = Math.max(maxAhead, produced - consumed)
        yield Buffer.alloc(CHUNK, 0x61)
      }
      yield Buffer.from(`\r\n--${boundary}--\r\n`)
    }
    const slowStore = new Writable({
      highWaterMark: CHUNK,
      write(c: Buffer, _e, cb) {
        consumed += c.length
        setTimeout(cb, 1)
      },
    })
    const form = await receiveUploadForm(Readable.from(body(), { objectMode: false, highWaterMark: CHUNK }), {
      'content-type': `multipart/form-data; boundary=${boundary}`,
    }, {
      maxFileBytes: CHUNK * CHUNKS,
      beforeFile: () => {},
      ingest: async (file) => (await pipeline(file, slowStore), fakeDigests(consumed)),
    })
    expect(form.file?.blob.size).toBe(CHUNK * CHUNKS)
    // Without backpressure the generator would run the whole 16 MiB ahead of the store.
    expect(maxAhead).toBeLessThan(2 * 1024 * 1024)
  })

  it('refuses early when beforeFile throws, without ingesting', async () => {
    const { stream, headers } = await multipart([['name', 'a'], ['content', { filename: 'b-1.tar.gz', data: Buffer.alloc(10) }]])
    let ingestCalled = false
    await expect(
      receiveUploadForm(stream, headers, {
        maxFileBytes: 100,
        beforeFile: () => {
          throw new Error('nope')
        },
        ingest: async () => ((ingestCalled = true), fakeDigests(0)),
      }),
    ).rejects.toThrow('nope')
    expect(ingestCalled).toBe(false)
  })

  it('refuses a body that is not multipart', async () => {
    await expect(
      receiveUploadForm(Readable.from([Buffer.from('{}')]), { 'content-type': 'application/json' }, {
        maxFileBytes: 1, beforeFile: () => {}, ingest: async () => fakeDigests(0),
      }),
    ).rejects.toThrow(/multipart\/form-data/)
  })
})

describe('upload planning', () => {
  const fields = (o: Record<string, string>): FormFields => new Map(Object.entries(o).map(([k, v]) => [k, [v]]))

  it('maps a valid form to the normalised project path', () => {
    const plan = planUpload(fields({ ':action': 'file_upload', name: 'Ak.Demo', version: '1.0', filetype: 'bdist_wheel' }), 'ak_demo-1.0-py3-none-any.whl')
    expect(plan).toMatchObject({ project: 'ak-demo', path: 'packages/ak-demo/ak_demo-1.0-py3-none-any.whl' })
  })

  it('refuses a filetype that contradicts the file', () => {
    expect(() => planUpload(fields({ ':action': 'file_upload', name: 'a', version: '1', filetype: 'sdist' }), 'a-1-py3-none-any.whl')).toThrow(/filetype/)
  })
})

describe('PyPI wire errors', () => {
  it('maps only known codes, and immutability to twine\'s 400 "File already exists"', () => {
    for (const code of Object.keys(PYPI_STATUS)) expect(ERROR_CODES).toContain(code)
    const wire = toPypiWireError(new ImmutableArtifactError('x.whl exists'))
    expect(wire.status).toBe(400)
    expect(wire.message).toMatch(/^File already exists/)
    expect(toPypiWireError(new Error('boom'))).toEqual({ status: 500, message: 'internal error' })
  })
})
