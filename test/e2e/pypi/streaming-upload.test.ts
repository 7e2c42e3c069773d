import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import yazl from 'yazl'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { coreMetadata, sha256, twineFields, uploadForm, wheelFilename } from './dists.ts'
import { createRepo } from './helpers.ts'

// A large wheel streams through busboy into the blob store and round-trips byte for byte; its
// METADATA is found by range reads behind a large stored entry. (That the form parser does not
// read ahead of the store is pinned in test/formats/pypi/upload-form.test.ts. The node's peak RSS
// is not asserted here: it grows with the file inside BlobStore.ingest, for generic PUTs too.)

const FILE_MIB = 48

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

  it(`stores a ${FILE_MIB} MiB wheel and serves it back byte for byte`, async () => {
    const wheel = await bigWheel()
    const res = await fetch(`${node.url}/pypi/stream/`, {
      method: 'POST',
      headers: { authorization: node.adminAuth },
      body: uploadForm(wheelFilename('big', '1.0'), wheel, twineFields('big', '1.0', 'bdist_wheel', wheel)),
      signal: AbortSignal.timeout(120_000),
    })
    expect(res.status, await res.text()).toBe(200)
    const dl = await fetch(`${node.url}/pypi/stream/packages/big/${wheelFilename('big', '1.0')}`, { headers: { authorization: node.adminAuth } })
    expect(sha256(Buffer.from(await dl.arrayBuffer()))).toBe(sha256(wheel))
  })
})
