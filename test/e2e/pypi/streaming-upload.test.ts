import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import yazl from 'yazl'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { coreMetadata, sha256, twineFields, uploadForm, wheelFilename } from './dists.ts'
import { createRepo } from './helpers.ts'

// An upload streams through busboy into the blob store: the node's memory must not grow with
// the file, and the stored bytes must be the uploaded ones.

const FILE_MIB = Number(process.env.PYPI_MIB ?? 64)

async function bigWheel(): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  // Random bytes, stored: the wheel is as large as its payload.
  zip.addBuffer(randomBytes(FILE_MIB * 1024 * 1024), 'big/payload.bin', { compress: false })
  zip.addBuffer(Buffer.from(coreMetadata({ name: 'big', version: '1.0' })), 'big-1.0.dist-info/METADATA')
  zip.addBuffer(Buffer.from('Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n'), 'big-1.0.dist-info/WHEEL')
  zip.end()
  const chunks: Buffer[] = []
  for await (const c of zip.outputStream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

describe('PyPI upload streaming', () => {
  let node: NodeProcess

  beforeAll(async () => {
    node = await startNodeProcess()
    await createRepo(node, 'stream')
  })

  afterAll(async () => {
    await node?.stop()
  })

  it(`keeps the node's memory flat while a ${FILE_MIB} MiB wheel uploads`, async () => {
    const wheel = await bigWheel()
    const before = node.rss()
    const res = await fetch(`${node.url}/pypi/stream/`, {
      method: 'POST',
      headers: { authorization: node.adminAuth },
      body: uploadForm(wheelFilename('big', '1.0'), wheel, twineFields('big', '1.0', 'bdist_wheel', wheel)),
      signal: AbortSignal.timeout(120_000),
    })
    expect(res.status, await res.text()).toBe(200)
    const grown = node.peakRss() - before
    expect(grown).toBeLessThan((FILE_MIB / 2) * 1024 * 1024)
    const dl = await fetch(`${node.url}/pypi/stream/packages/big/${wheelFilename('big', '1.0')}`, { headers: { authorization: node.adminAuth } })
    expect(sha256(Buffer.from(await dl.arrayBuffer()))).toBe(sha256(wheel))
  })
})
