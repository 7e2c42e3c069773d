import { randomBytes } from 'node:crypto'
import { copyFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'
import { ak, akJson, bundleLayout, createRepo, fetchBytes, killImportWhen, put, sha256, stateOf, storedBlobs } from './airgap-helpers.ts'

interface ExportJson {
  events: number
  blobs: number
  bytes: number
  complete: boolean
  estimatedBytes: number
  to: Record<string, number>
}
interface ImportJson {
  dryRun: boolean
  events: { new: number; alreadyHeld: number }
  repositories: { created: string[] }
  artifacts: { added: number; changed: number; removed: number; list: { added: string[] } }
  blobs: { stored: number; alreadyStored: number; bytesStored: number }
  state: { before: string; after: string }
}

/*
 * Node A publishes with the mesh off; node B's data directory only ever receives bundle files.
 * Every `ak export` / `ak import` is a real CLI process.
 */
describe('air-gapped sync by signed bundle (ak export / ak import)', () => {
  const work = tempDir('ak-airgap-')
  const bDir = tempDir('ak-airgap-b-')
  const cursor = join(work, 'cursor.json')
  let a: NodeProcess
  let aPeer: string
  const files: Record<string, Buffer> = {
    'tools/hello.txt': Buffer.from('hello from A\n'),
    'tools/data.bin': randomBytes(3 * 1024 * 1024 + 17),
    'docs/readme.md': Buffer.from('# readme\n'),
  }
  const bundle1 = join(work, 'one.akb')
  const bundle2 = join(work, 'two.akb')

  beforeAll(async () => {
    a = await startNodeProcess()
    await createRepo(a, 'files')
    for (const [path, body] of Object.entries(files)) await put(a, 'files', path, body)
    const id = await ak(['--data-dir', a.dataDir, 'mesh', 'id'])
    aPeer = id.stdout.trim()
    expect(aPeer).toMatch(/^12D3Koo/)
  })
  afterAll(async () => {
    await a?.stop()
  })

  it('exports beside the running node and imports into a node that never met it: artifacts served with the right digests', async () => {
    const ex = await akJson<ExportJson>(['--data-dir', a.dataDir, 'export', '--out', bundle1, '--write-cursor', cursor])
    expect(ex.complete).toBe(true)
    expect(ex.events).toBe(4) // repo.create + 3 puts
    expect(ex.blobs).toBe(3)
    expect(ex.bytes).toBe(statSync(bundle1).size)
    expect(Math.abs(ex.estimatedBytes - ex.bytes)).toBeLessThan(4096)
    expect(JSON.parse(readFileSync(cursor, 'utf8')).versionVector).toEqual(ex.to)

    const im = await akJson<ImportJson>(['--data-dir', bDir, 'import', bundle1, '--trust', aPeer])
    expect(im.events.new).toBe(4)
    expect(im.artifacts.added).toBe(3)
    expect(im.repositories.created).toEqual(['files'])
    expect(im.blobs.stored).toBe(3)
    expect(im.state.after).not.toBe(im.state.before)

    const b = await startNodeProcess({ dataDir: bDir })
    try {
      for (const [path, body] of Object.entries(files)) {
        const got = await fetchBytes(b, 'files', path)
        expect(got.status, path).toBe(200)
        expect(sha256(got.body), path).toBe(sha256(body))
      }
      const [sa, sb] = await Promise.all(
        [a, b].map(async (n) => (await (await fetch(`${n.url}/api/v1/replication/state`, { headers: { authorization: n.adminAuth } })).json()) as { hash: string }),
      )
      expect(sb?.hash).toBe(sa?.hash)
    } finally {
      await b.stop()
    }
  })

  it('a second import of the same bundle changes nothing', async () => {
    const before = stateOf(bDir)
    const im = await akJson<ImportJson>(['--data-dir', bDir, 'import', bundle1, '--trust', aPeer])
    expect(im.events).toEqual({ new: 0, alreadyHeld: 4 })
    expect(im.blobs.stored).toBe(0)
    expect(im.blobs.alreadyStored).toBe(3)
    expect(im.state.after).toBe(im.state.before)
    expect(stateOf(bDir)).toEqual(before)
  })

  it('the next export from the cursor carries only the new events and their blobs', async () => {
    files['tools/later.txt'] = Buffer.from('published after the first bundle\n')
    await put(a, 'files', 'tools/later.txt', files['tools/later.txt'] as Buffer)
    const ex = await akJson<ExportJson>(['--data-dir', a.dataDir, 'export', '--out', bundle2, '--since', cursor, '--write-cursor', cursor])
    expect(ex.events).toBe(1)
    expect(ex.blobs).toBe(1)
    expect(ex.bytes).toBeLessThan(4096)
    // --dry-run on B: the listing says what would change, and nothing does.
    const before = stateOf(bDir)
    const blobsBefore = storedBlobs(bDir).length
    const dry = await akJson<ImportJson>(['--data-dir', bDir, 'import', bundle2, '--trust', aPeer, '--dry-run'])
    expect(dry.dryRun).toBe(true)
    expect(dry.events.new).toBe(1)
    expect(dry.artifacts.list.added).toEqual(['files/tools/later.txt'])
    expect(dry.blobs).toMatchObject({ stored: 1, bytesStored: (files['tools/later.txt'] as Buffer).length })
    expect(dry.state.after).not.toBe(dry.state.before)
    expect(stateOf(bDir)).toEqual(before)
    expect(storedBlobs(bDir).length).toBe(blobsBefore)

    const im = await akJson<ImportJson>(['--data-dir', bDir, 'import', bundle2, '--trust', aPeer])
    expect(im.events.new).toBe(1)
    expect(im.state.after).toBe(dry.state.after)
    expect(stateOf(bDir).artifacts).toBe(4)
  })

  describe('refused bundles change nothing', () => {
    let bundle3: string
    let layout: ReturnType<typeof bundleLayout>
    beforeAll(async () => {
      await put(a, 'files', 'tools/third.bin', randomBytes(200_000))
      bundle3 = join(work, 'three.akb')
      await akJson<ExportJson>(['--data-dir', a.dataDir, 'export', '--out', bundle3, '--since', cursor])
      layout = bundleLayout(bundle3)
      expect(layout.events.length).toBe(1)
      expect(layout.blobs.length).toBe(1)
    })

    async function expectRefused(file: string, trust: string, reason: RegExp): Promise<void> {
      const before = stateOf(bDir)
      const r = await ak(['--data-dir', bDir, 'import', file, '--trust', trust])
      expect(r.code, r.stdout).not.toBe(0)
      expect(r.stderr).toMatch(reason)
      expect(stateOf(bDir)).toEqual(before)
    }

    const flips: [string, (l: ReturnType<typeof bundleLayout>) => number, RegExp][] = [
      ['the magic', () => 2, /not an Artifact Keeper bundle/],
      ['the header', (l) => l.header + 20, /header|signature|AK_BUNDLE/],
      ['an event', (l) => (l.events[0] as number) + 60, /AK_BUNDLE_(EVENT|MALFORMED|SIGNATURE)/],
      ['a blob', (l) => (l.blobs[0]?.bytes as number) + 100_000, /AK_BUNDLE_DIGEST/],
      ['a blob record', (l) => (l.blobs[0]?.meta as number) + 30, /AK_BUNDLE_(DIGEST|MALFORMED)/],
      ['the trailer', (l) => l.trailer + 40, /AK_BUNDLE_SIGNATURE/],
    ]
    for (const [where, offset, reason] of flips) {
      it(`one flipped byte in ${where} is refused`, async () => {
        const file = join(work, `flipped-${where.replace(/\W+/g, '-')}.akb`)
        copyFileSync(bundle3, file)
        const bytes = readFileSync(file)
        const at = offset(layout)
        bytes[at] = (bytes[at] as number) ^ 0x01
        writeFileSync(file, bytes)
        await expectRefused(file, aPeer, reason)
      })
    }

    it('a truncated bundle is refused', async () => {
      const file = join(work, 'truncated.akb')
      copyFileSync(bundle3, file)
      truncateSync(file, Math.floor(statSync(file).size / 2))
      await expectRefused(file, aPeer, /AK_BUNDLE_TRUNCATED/)
    })

    it('a bundle signed by a peer that is not trusted is refused', async () => {
      const other = (await ak(['--data-dir', tempDir('ak-other-'), 'mesh', 'id'])).stdout.trim()
      await expectRefused(bundle3, other, /not trusted/)
    })

    it('the untouched bundle then imports', async () => {
      const im = await akJson<ImportJson>(['--data-dir', bDir, 'import', bundle3, '--trust', aPeer])
      expect(im.events.new).toBe(1)
    })
  })

  it('an import killed (SIGKILL) halfway and run again completes, without storing the blobs it already stored', async () => {
    await createRepo(a, 'big')
    const big = Array.from({ length: 16 }, () => randomBytes(2 * 1024 * 1024))
    for (const [i, body] of big.entries()) await put(a, 'big', `part-${i}.bin`, body)
    const file = join(work, 'big.akb')
    const ex = await akJson<ExportJson>(['--data-dir', a.dataDir, 'export', '--out', file, '--repos', 'big'])
    expect(ex.blobs).toBe(16)
    const before = stateOf(bDir)
    const blobsBefore = storedBlobs(bDir).length
    const killed = await killImportWhen(['--data-dir', bDir, 'import', file, '--trust', aPeer], () => storedBlobs(bDir).length >= blobsBefore + 3)
    expect(killed.killedRunning, killed.stderr).toBe(true)
    const partly = storedBlobs(bDir).length - blobsBefore
    expect(partly).toBeGreaterThanOrEqual(3)
    expect(partly).toBeLessThan(16)
    expect(stateOf(bDir)).toEqual(before) // nothing applied

    const im = await akJson<ImportJson>(['--data-dir', bDir, 'import', file, '--trust', aPeer])
    expect(im.blobs.alreadyStored).toBe(partly)
    expect(im.blobs.stored).toBe(16 - partly)
    expect(im.artifacts.added).toBe(16)
    const b = await startNodeProcess({ dataDir: bDir })
    try {
      for (const i of [0, 7, 15]) {
        const got = await fetchBytes(b, 'big', `part-${i}.bin`)
        expect(sha256(got.body)).toBe(sha256(big[i] as Buffer))
      }
    } finally {
      await b.stop()
    }
  })

  it('refuses to import while a node serves the data directory', async () => {
    const r = await ak(['--data-dir', a.dataDir, 'import', bundle1, '--trust', aPeer])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/in use by process/)
  })
})
