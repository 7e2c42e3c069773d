import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough, Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { pack } from 'tar-stream'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'

const MiB = 1024 * 1024
const CONTENT_BYTES = 64 * MiB

/** Forgets the peak RSS of `pid` (Linux clear_refs 5) so VmHWM becomes the peak from now on. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

function procBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? 0) * 1024
}

/** Peak RSS growth of `pid` while `transfer` runs. */
async function measure(pid: number, transfer: () => Promise<void>): Promise<number> {
  resetPeakRss(pid)
  const before = procBytes(pid, 'VmRSS')
  await transfer()
  return procBytes(pid, 'VmHWM') - before
}

/** Writes a package tarball with CONTENT_BYTES of random data to `file`; returns its digests. */
async function writeBigTarball(file: string, name: string, version: string) {
  const p = pack()
  p.entry({ name: 'package/package.json' }, JSON.stringify({ name, version }))
  const data = p.entry({ name: 'package/blob.bin', size: CONTENT_BYTES })
  const sha512 = createHash('sha512')
  const sha1 = createHash('sha1')
  let size = 0
  const hash = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sha512.update(chunk)
      sha1.update(chunk)
      size += chunk.length
      done(null, chunk)
    },
  })
  const written = pipeline(p, createGzip({ level: 1 }), hash, createWriteStream(file))
  for (let left = CONTENT_BYTES; left > 0; left -= MiB) {
    if (!data.write(randomBytes(Math.min(MiB, left)))) await new Promise<void>((r) => data.once('drain', () => r()))
  }
  data.end(Buffer.alloc(0))
  p.finalize()
  await written
  return { integrity: `sha512-${sha512.digest('base64')}`, shasum: sha1.digest('hex'), size }
}

/** Base64-encodes a stream, keeping 3-byte alignment across chunks. */
function base64Of(source: Readable): Readable {
  let rest = Buffer.alloc(0)
  return source.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        const all = Buffer.concat([rest, chunk])
        const whole = all.length - (all.length % 3)
        rest = all.subarray(whole)
        done(null, all.subarray(0, whole).toString('base64'))
      },
      flush(done) {
        done(null, rest.toString('base64'))
      },
    }),
  )
}

/**
 * npm's publish document carries the tarball as base64 inside JSON. The node must decode it
 * on the fly into the blob store: a 48 MiB tarball (64 MiB of body) must not make the node
 * process grow by anything like the body's size.
 */
describe('npm publish streaming', () => {
  let node: NodeProcess
  let dir: string

  beforeAll(async () => {
    dir = tempDir('ak-npm-stream-')
    node = await startNodeProcess()
    for (const [key, format] of [['npm-big', 'npm'], ['files', 'generic']]) {
      const res = await fetch(`${node.url}/api/v1/repositories`, {
        method: 'POST',
        headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
        body: JSON.stringify({ key, format, type: 'local' }),
      })
      expect(res.status).toBe(201)
    }
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('decodes a large base64 attachment into the store without buffering the body', async () => {
    const file = join(dir, 'big.tgz')
    const digests = await writeBigTarball(file, 'big-pkg', '1.0.0')
    const head = JSON.stringify({
      _id: 'big-pkg',
      name: 'big-pkg',
      'dist-tags': { latest: '1.0.0' },
      versions: { '1.0.0': { name: 'big-pkg', version: '1.0.0', dist: { integrity: digests.integrity, shasum: digests.shasum } } },
    }).slice(0, -1)
    const body = new PassThrough()
    const sending = (async () => {
      body.write(`${head},"_attachments":{"big-pkg-1.0.0.tgz":{"content_type":"application/octet-stream","data":"`)
      for await (const chunk of base64Of(createReadStream(file))) {
        if (!body.write(chunk)) await new Promise<void>((r) => body.once('drain', () => r()))
      }
      body.end(`","length":${digests.size}}}}`)
    })()
    // The baseline: the same bytes as a plain streamed PUT of the generic format.
    const plain = await measure(node.pid, async () => {
      const r = await request(`${node.url}/generic/files/big.tgz`, { method: 'PUT', headers: { authorization: node.adminAuth }, body: createReadStream(file) })
      expect(r.statusCode).toBe(201)
      await r.body.text()
    })
    const reset = resetPeakRss(node.pid)
    const rssBefore = procBytes(node.pid, 'VmRSS')
    const res = await request(`${node.url}/npm/npm-big/big-pkg`, {
      method: 'PUT',
      headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
      body,
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    })
    await sending
    const answer = await res.body.text()
    expect(res.statusCode, answer).toBe(201)
    const growth = procBytes(node.pid, 'VmHWM') - rssBefore
    process.stderr.write(
      `npm publish of ${(digests.size / MiB).toFixed(0)} MiB: node RSS +${(growth / MiB).toFixed(1)} MiB; ` +
        `generic PUT of the same bytes: +${(plain / MiB).toFixed(1)} MiB${reset ? '' : ' (peak RSS could not be reset)'}\n`,
    )
    // Holding the body (85 MiB of base64, more as a string) would add at least that much over
    // the plain streamed PUT.
    expect(growth - plain).toBeLessThan(48 * MiB)

    const doc = (await (await fetch(`${node.url}/npm/npm-big/big-pkg`, { headers: { authorization: node.adminAuth } })).json()) as {
      versions: Record<string, { dist: { integrity: string; tarball: string } }>
    }
    expect(doc.versions['1.0.0']?.dist.integrity).toBe(digests.integrity)
    const tgz = await fetch(doc.versions['1.0.0']?.dist.tarball as string, { headers: { authorization: node.adminAuth } })
    const served = createHash('sha512')
    for await (const chunk of tgz.body as unknown as AsyncIterable<Uint8Array>) served.update(chunk)
    expect(`sha512-${served.digest('base64')}`).toBe(digests.integrity)
  }, 120_000)
})
