import { createHash, randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { buildTgz, chartTgz, provenanceFor } from './charts.ts'

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

interface IndexEntry {
  apiVersion: string
  name: string
  version: string
  appVersion?: string
  description?: string
  created: string
  digest: string
  urls: string[]
  [key: string]: unknown
}
interface IndexFile {
  apiVersion: string
  entries: Record<string, IndexEntry[]>
  generated: string
}

/**
 * A chart repository on a real node process, driven over HTTP as helm and ChartMuseum clients do
 * (no helm client is installable here): index.yaml is checked against the schema Helm documents
 * for it, every URL in it is downloaded and its bytes checked against the digest, and
 * ChartMuseum's upload/delete API is exercised with good and bad input.
 */
describe('helm: chart repository with ChartMuseum upload API', () => {
  let node: NodeProcess
  const auth = () => ({ authorization: node.adminAuth })

  const createRepo = async (key: string, body: Record<string, unknown> = {}) => {
    const res = await fetch(`${node.url}/api/v1/repositories`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ key, format: 'helm', type: 'local', ...body }),
    })
    expect(res.status, await res.text()).toBe(201)
  }

  const post = (repo: string, body: Buffer | FormData, path = 'api/charts', headers: Record<string, string> = auth()) =>
    fetch(`${node.url}/helm/${repo}/${path}`, {
      method: 'POST',
      headers: body instanceof FormData ? headers : { ...headers, 'content-type': 'application/octet-stream' },
      body,
    })

  /** Fetches and parses index.yaml, checking it against Helm's index file schema. */
  const index = async (repo: string): Promise<IndexFile> => {
    const res = await fetch(`${node.url}/helm/${repo}/index.yaml`, { headers: auth() })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/yaml/)
    const doc = parse(await res.text()) as IndexFile
    expect(doc.apiVersion).toBe('v1')
    expect(doc.generated).toMatch(RFC3339)
    expect(typeof doc.entries).toBe('object')
    for (const [name, versions] of Object.entries(doc.entries)) {
      expect(Array.isArray(versions)).toBe(true)
      for (const v of versions) {
        expect(v.name).toBe(name)
        expect(['v1', 'v2']).toContain(v.apiVersion)
        expect(v.version).toMatch(SEMVER)
        expect(v.created).toMatch(RFC3339)
        expect(v.digest).toMatch(/^[a-f0-9]{64}$/)
        expect(Array.isArray(v.urls) && v.urls.length > 0).toBe(true)
        for (const u of v.urls) expect(u.startsWith(`${node.url}/helm/${repo}/charts/`), u).toBe(true)
        for (const k of ['appVersion', 'description', 'type', 'home', 'icon', 'kubeVersion']) {
          if (v[k] !== undefined) expect(typeof v[k], k).toBe('string')
        }
        for (const k of ['keywords', 'sources']) if (v[k] !== undefined) expect(Array.isArray(v[k]), k).toBe(true)
      }
    }
    return doc
  }

  /** Downloads every chart URL of the index, as helm pull does, and checks the digest. */
  const verifyDownloads = async (doc: IndexFile) => {
    for (const versions of Object.values(doc.entries)) {
      for (const v of versions) {
        const res = await fetch(v.urls[0]!, { headers: auth() })
        expect(res.status, v.urls[0]).toBe(200)
        expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(v.digest)
      }
    }
  }

  beforeAll(async () => {
    node = await startNodeProcess()
    await createRepo('charts')
    await createRepo('team')
    await createRepo('tiny', { settings: { maxUploadBytes: 4096 } })
    await createRepo('all', { type: 'virtual', settings: { members: ['team', 'charts'], defaultDeployRepo: 'charts' } })
  })
  afterAll(async () => {
    await node?.stop()
  })

  it('generates index.yaml from uploaded charts; its URLs download the uploaded bytes', async () => {
    const web1 = await chartTgz({ name: 'web', version: '1.0.0', appVersion: '2.4.1', keywords: ['web'], home: 'https://example.com' })
    const web2 = await chartTgz({ name: 'web', version: '1.10.0', appVersion: '2.5.0' })
    const api = await chartTgz({ name: 'api', version: '0.3.0-beta.1', apiVersion: 'v1' })
    for (const tgz of [web1, web2, api]) {
      const res = await post('charts', tgz)
      expect(res.status).toBe(201)
      expect(await res.json()).toEqual({ saved: true })
    }
    const doc = await index('charts')
    expect(Object.keys(doc.entries).sort()).toEqual(['api', 'web'])
    expect(doc.entries.web!.map((v) => v.version)).toEqual(['1.10.0', '1.0.0'])
    expect(doc.entries.web![1]).toMatchObject({ appVersion: '2.4.1', keywords: ['web'], home: 'https://example.com', digest: sha256(web1) })
    expect(doc.entries.api![0]).toMatchObject({ apiVersion: 'v1', version: '0.3.0-beta.1', digest: sha256(api) })
    await verifyDownloads(doc)
    const dl = await fetch(doc.entries.web![1]!.urls[0]!, { headers: auth() })
    expect(Buffer.from(await dl.arrayBuffer()).equals(web1)).toBe(true)
  })

  it('takes a chart and its provenance as multipart fields and serves the .prov beside the chart', async () => {
    const tgz = await chartTgz({ name: 'signed', version: '0.1.0' })
    const prov = provenanceFor('signed', '0.1.0', tgz, sha256(tgz))
    const form = new FormData()
    form.append('chart', new Blob([tgz]), 'signed-0.1.0.tgz')
    form.append('prov', new Blob([prov]), 'signed-0.1.0.tgz.prov')
    const res = await post('charts', form)
    expect(res.status, await res.clone().text()).toBe(201)
    const doc = await index('charts')
    const url = doc.entries.signed![0]!.urls[0]!
    const provRes = await fetch(`${url}.prov`, { headers: auth() })
    expect(provRes.status).toBe(200)
    expect(await provRes.text()).toBe(prov)
  })

  it('files a provenance uploaded on its own (POST api/prov) under the chart it names', async () => {
    const tgz = await chartTgz({ name: 'later', version: '2.0.0' })
    expect((await post('charts', tgz)).status).toBe(201)
    const prov = provenanceFor('later', '2.0.0', tgz, sha256(tgz))
    expect((await post('charts', Buffer.from(prov), 'api/prov')).status).toBe(201)
    const res = await fetch(`${node.url}/helm/charts/charts/later-2.0.0.tgz.prov`, { headers: auth() })
    expect(await res.text()).toBe(prov)
    const bad = await post('charts', Buffer.from('name: later\nversion: 2.0.0\n'), 'api/prov')
    expect(bad.status).toBe(400)
  })

  it('accepts the same bytes again and refuses other bytes for a stored version with 409 {"error"}', async () => {
    const first = await chartTgz({ name: 'fixed', version: '1.0.0', description: 'first' })
    expect((await post('charts', first)).status).toBe(201)
    expect((await post('charts', first)).status).toBe(200)
    const second = await chartTgz({ name: 'fixed', version: '1.0.0', description: 'second' })
    const res = await post('charts', second)
    expect(res.status).toBe(409)
    const body = (await res.json()) as { error: string }
    expect(body.error).toMatch(/already exists/)
    expect((await index('charts')).entries.fixed![0]!.digest).toBe(sha256(first))
  })

  it('deletes a chart version and its provenance (DELETE api/charts/{name}/{version})', async () => {
    const tgz = await chartTgz({ name: 'doomed', version: '0.0.1' })
    expect((await post('charts', tgz)).status).toBe(201)
    const url = `${node.url}/helm/charts/api/charts/doomed/0.0.1`
    const res = await fetch(url, { method: 'DELETE', headers: auth() })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ deleted: true })
    expect((await index('charts')).entries.doomed).toBeUndefined()
    expect((await fetch(`${node.url}/helm/charts/charts/doomed-0.0.1.tgz`, { headers: auth() })).status).toBe(404)
    const again = await fetch(url, { method: 'DELETE', headers: auth() })
    expect(again.status).toBe(404)
    expect(((await again.json()) as { error: string }).error).toMatch(/not found/)
  })

  it('serves the index as JSON on ChartMuseum read routes', async () => {
    const all = (await (await fetch(`${node.url}/helm/charts/api/charts`, { headers: auth() })).json()) as Record<string, IndexEntry[]>
    expect(all.web!.map((v) => v.version)).toEqual(['1.10.0', '1.0.0'])
    const one = (await (await fetch(`${node.url}/helm/charts/api/charts/web/1.0.0`, { headers: auth() })).json()) as IndexEntry
    expect(one).toMatchObject({ name: 'web', version: '1.0.0' })
    expect((await fetch(`${node.url}/helm/charts/api/charts/web/9.9.9`, { headers: auth() })).status).toBe(404)
  })

  it('merges the members of a virtual repository (first member wins) and publishes to its default member', async () => {
    const teamWeb = await chartTgz({ name: 'web', version: '1.0.0', description: 'team build' })
    expect((await post('team', teamWeb)).status).toBe(201)
    expect((await post('team', await chartTgz({ name: 'teamonly', version: '3.0.0' }))).status).toBe(201)
    const viaVirtual = await chartTgz({ name: 'published', version: '0.5.0' })
    expect((await post('all', viaVirtual)).status).toBe(201)
    expect((await index('charts')).entries.published).toHaveLength(1)

    const doc = await index('all')
    expect(Object.keys(doc.entries)).toEqual(expect.arrayContaining(['web', 'api', 'teamonly', 'published']))
    expect(doc.entries.web!.map((v) => v.version)).toEqual(['1.10.0', '1.0.0'])
    expect(doc.entries.web!.find((v) => v.version === '1.0.0')!.digest).toBe(sha256(teamWeb))
    await verifyDownloads(doc)
  })

  it('refuses archives that are not charts, with a JSON error and nothing stored', async () => {
    const bomb = await buildTgz([
      { name: 'bomb/Chart.yaml', data: 'apiVersion: v2\nname: bomb\nversion: 1.0.0\n' },
      { name: 'bomb/zeros.bin', data: Buffer.alloc(110 * 1024 * 1024) },
    ])
    const cases: [string, Buffer, RegExp][] = [
      ['not gzip', Buffer.from('this is not a chart, not even gzip'), /gzip/],
      ['gzip, not tar', gzipSync(Buffer.from('hello '.repeat(200))), /chart archive|tar/],
      ['no Chart.yaml', await buildTgz([{ name: 'nochart/values.yaml', data: 'a: 1\n' }]), /no Chart.yaml/],
      ['gzip bomb', bomb, /decompresses to more than/],
      ['invalid version', await chartTgz({ name: 'badver', version: '1.0' }), /SemVer/],
      ['invalid name', await buildTgz([{ name: 'x/Chart.yaml', data: 'apiVersion: v2\nname: "bad name"\nversion: 1.0.0\n' }]), /invalid/],
      ['unsupported apiVersion', await chartTgz({ name: 'badapi', version: '1.0.0', apiVersion: 'v9' }), /apiVersion/],
      ['broken YAML', await buildTgz([{ name: 'y/Chart.yaml', data: 'apiVersion: v2\nname: [y\n' }]), /YAML/],
      ['path traversal', await buildTgz([{ name: 'tr/Chart.yaml', data: 'apiVersion: v2\nname: tr\nversion: 1.0.0\n' }, { name: '../tr/x', data: 'x' }]), /leaves the chart directory/],
    ]
    for (const [what, body, message] of cases) {
      const res = await post('charts', body)
      expect(res.status, what).toBe(400)
      expect(res.headers.get('content-type'), what).toMatch(/application\/json/)
      expect(((await res.json()) as { error: string }).error, what).toMatch(message)
    }
    const doc = await index('charts')
    for (const name of ['bomb', 'badver', 'badapi', 'tr', 'y', 'nochart']) expect(doc.entries[name], name).toBeUndefined()
  })

  it('refuses oversize uploads with 413 and anonymous callers of a private repository with 401', async () => {
    const big = await chartTgz({ name: 'big', version: '1.0.0' }, { 'blob.bin': randomBytes(8192) })
    const res = await post('tiny', big)
    expect(res.status).toBe(413)
    expect(((await res.json()) as { error: string }).error).toMatch(/exceeds|maximum/)
    const form = new FormData()
    form.append('chart', new Blob([big]), 'big-1.0.0.tgz')
    const multipart = await post('tiny', form)
    expect(multipart.status).toBe(413)
    expect((await index('tiny')).entries.big).toBeUndefined()

    const anon = await post('charts', await chartTgz({ name: 'anon', version: '1.0.0' }), 'api/charts', {})
    expect(anon.status).toBe(401)
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic /)
    expect((await fetch(`${node.url}/helm/charts/index.yaml`)).status).toBe(401)
  })
})
