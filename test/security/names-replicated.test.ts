// Hole: names from peers were applied as they came: a mesh member (or a bundle it signed) could plant packages under names every format's own uploads refuse (`@../x`, `Upper` images, `nul` crates, `a/../b` paths).
//
// A hostile node signs, with its own key, events that no upload could have produced, for a
// repository of every format. Its bundle is imported into another node by the real `ak import`
// (the same event applier as mesh sync), which then serves over real HTTP: none of those paths
// exists there, while the one honest file beside them does. The events themselves are kept
// (they are signed and chained), just never materialised.
import { Readable } from 'node:stream'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../node/index.ts'
import { openDataDir } from '../../node/open.ts'
import type { BlobDigests } from '../../store/index.ts'
import { ADMIN_PASSWORD, startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'
import { akJson, ak } from '../airgap/airgap-helpers.ts'

interface ImportJson {
  events: { new: number }
  artifacts: { added: number; list: { added: string[] } }
}

const HEX = 'a'.repeat(64)

/** For every format: a repository and paths (with the properties its index would read) that no upload there can make. */
const PLANTED: { format: string; repo: string; paths: [string, Record<string, unknown>][] }[] = [
  {
    format: 'npm',
    repo: 'npm-mesh',
    paths: [
      ['@../x/-/x-1.0.0.tgz', { 'npm.name': '@../x', 'npm.version': '1.0.0', 'npm.manifest': '{}', 'npm.abbreviated': '{}', 'npm.shasum': 'x', 'npm.integrity': 'x', 'npm.publishedAt': 1 }],
      ['.remote/@../x/packument.json', {}],
    ],
  },
  { format: 'oci', repo: 'oci-mesh', paths: [[`Upper/_manifests/sha256/${HEX}`, { mediaType: 'application/vnd.oci.image.manifest.v1+json' }], ['a..b/_tags/latest', { digest: `sha256:${HEX}` }]] },
  { format: 'helm', repo: 'helm-mesh', paths: [['charts/evil name-1.0.0.tgz', { helmChart: { apiVersion: 'v2', name: 'evil name', version: '1.0.0' }, created: '2026-01-01T00:00:00Z' }]] },
  { format: 'cargo', repo: 'cargo-mesh', paths: [['crates/nul/nul-1.0.0.crate', { cargo: { name: 'nul', vers: '1.0.0', deps: [], features: {}, yanked: false } }]] },
  { format: 'go', repo: 'go-mesh', paths: [['example.com/x/@v/v1.0.zip', { goModule: 'example.com/x', goVersion: 'v1.0', time: '2026-01-01T00:00:00Z', h1: 'h1:x', goModH1: 'h1:x' }]] },
  { format: 'maven', repo: 'maven-mesh', paths: [['com/x/a..b/1.0/a..b-1.0.jar', {}]] },
  { format: 'pypi', repo: 'pypi-mesh', paths: [['packages/Not_Normal/Not_Normal-1.0.tar.gz', { pypi: { name: 'Not_Normal', version: '1.0', filetype: 'sdist' } }]] },
]

/** Paths even the store refuses: the hostile node writes their events into its log directly. */
const UNSTORABLE = ['a/../b', 'a\\b', 'a/\u0000/b']

describe('names from a peer are checked as a client upload would be', () => {
  let hostile: NodeProcess | undefined
  let victim: NodeProcess | undefined
  const work = tempDir('ak-names-mesh-')
  const victimDir = tempDir('ak-names-victim-')
  const bundle = join(work, 'hostile.akb')
  let imported: ImportJson

  const get = async (node: NodeProcess, path: string) => {
    const r = await fetch(`${node.url}${path}`, { headers: { authorization: node.adminAuth }, signal: AbortSignal.timeout(15_000) })
    return { status: r.status, text: await r.text() }
  }

  beforeAll(async () => {
    hostile = await startNodeProcess()
    const api = (body: unknown) =>
      fetch(`${hostile!.url}/api/v1/repositories`, {
        method: 'POST',
        headers: { authorization: hostile!.adminAuth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      })
    for (const p of [...PLANTED, { format: 'generic', repo: 'generic-mesh' }]) {
      expect((await api({ key: p.repo, format: p.format, type: 'local' })).status).toBe(201)
    }
    const honest = await fetch(`${hostile.url}/generic/generic-mesh/ok.txt`, {
      method: 'PUT',
      headers: { authorization: hostile.adminAuth, 'content-type': 'text/plain' },
      body: 'honest\n',
      signal: AbortSignal.timeout(10_000),
    })
    expect(honest.status).toBe(201)
    const peerId = (await ak(['--data-dir', hostile.dataDir, 'mesh', 'id'])).stdout.trim()
    await hostile.stop()

    // The hostile node's own store, signing with its own key: what a compromised member would send.
    const { store } = await openDataDir(loadConfig({ env: { AK_ADMIN_PASSWORD: ADMIN_PASSWORD }, flags: { dataDir: hostile.dataDir, logLevel: 'silent' } }))
    try {
      const blob: BlobDigests = await store.blobs.ingest(Readable.from([Buffer.from('planted bytes\n')]))
      for (const { repo, paths } of PLANTED) {
        for (const [path, properties] of paths) store.artifacts.put({ repo, path, blob, properties, contentType: 'application/octet-stream', overwrite: true })
      }
      store.db.transaction(() => {
        store.pointers.set('npm-mesh', 'dist-tag/@../x/latest', '1.0.0')
        for (const path of UNSTORABLE) {
          store.log.append({
            repo: 'generic-mesh',
            kind: 'artifact.put',
            path,
            sha256: blob.sha256,
            payload: { size: blob.size, contentType: 'text/plain', properties: {}, blob: { sha1: blob.sha1, md5: blob.md5, sha512: blob.sha512, chunkManifest: Buffer.from(blob.chunkManifest).toString('hex') } },
          })
        }
      })()
    } finally {
      store.close()
    }

    await akJson(['--data-dir', hostile.dataDir, 'export', '--out', bundle])
    imported = await akJson<ImportJson>(['--data-dir', victimDir, 'import', bundle, '--trust', peerId])
    victim = await startNodeProcess({ dataDir: victimDir })
  }, 120_000)
  afterAll(async () => {
    await hostile?.stop()
    await victim?.stop()
  })

  it('imports every event but materialises only the honest file', () => {
    expect(imported.events.new).toBeGreaterThanOrEqual(PLANTED.length + 1 + UNSTORABLE.length + 2)
    expect(imported.artifacts.list.added).toEqual(['generic-mesh/ok.txt'])
  })

  it('serves the honest file and none of the planted names, in any format\'s listing or read', async () => {
    const node = victim as NodeProcess
    expect((await get(node, '/generic/generic-mesh/ok.txt')).text).toBe('honest\n')
    for (const { repo } of PLANTED) {
      const r = JSON.parse((await get(node, `/api/v1/repositories/${repo}`)).text) as { artifacts: number }
      expect(r.artifacts, repo).toBe(0)
    }
    const generic = JSON.parse((await get(node, '/api/v1/repositories/generic-mesh')).text) as { artifacts: number }
    expect(generic.artifacts).toBe(1)
    expect((await get(node, '/npm/npm-mesh/@..%2fx')).status).toBe(404)
    expect((await get(node, '/npm/npm-mesh/-/package/@..%2fx/dist-tags')).status).toBe(404)
    expect(JSON.parse((await get(node, '/v2/_catalog')).text).repositories).toEqual([])
    expect((await get(node, '/helm/helm-mesh/index.yaml')).text).toMatch(/^entries: \{\}$/m)
    expect((await get(node, '/cargo/cargo-mesh/index/3/n/nul')).status).toBe(404)
    expect((await get(node, '/go/go-mesh/example.com/x/@v/list')).status).toBe(404)
    expect(JSON.parse((await get(node, '/pypi/pypi-mesh/simple/?format=application/vnd.pypi.simple.v1+json')).text).projects).toEqual([])
    expect(JSON.parse((await get(node, '/maven/maven-mesh/')).text).children).toEqual([])
  })
})
