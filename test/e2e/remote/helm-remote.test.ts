import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { findChartUrl, parseUpstreamIndex, rewriteIndex } from '../../../formats/helm/index.ts'
import { ADMIN_PASSWORD, startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { startCountingProxy, type CountingProxy } from '../../formats/remote/index.ts'
import { chartTgz, provenanceFor } from '../helm/charts.ts'

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

interface IndexFile {
  entries: Record<string, { name: string; version: string; digest: string; urls: string[] }[]>
}

/*
 * A Helm remote repository over HTTP as helm drives it (no helm client is installable here): an
 * UPSTREAM node process with a local chart repository, a counting proxy in front of it, and an
 * EDGE node process whose public remote repository proxies it. index.yaml comes back with every
 * chart URL on the edge; every URL is downloaded and checked against the digest.
 */
describe('helm through a helm remote repository', () => {
  let upstream: NodeProcess
  let edge: NodeProcess
  let proxy: CountingProxy
  let remote: string
  const charts = new Map<string, Buffer>()

  const upload = async (name: string, version: string, withProv = false) => {
    const tgz = await chartTgz({ name, version })
    charts.set(`${name}-${version}.tgz`, tgz)
    const form = new FormData()
    form.append('chart', new Blob([tgz]), `${name}-${version}.tgz`)
    if (withProv) form.append('prov', new Blob([provenanceFor(name, version, tgz, sha256(tgz))]), `${name}-${version}.tgz.prov`)
    const res = await fetch(`${upstream.url}/helm/charts/api/charts`, { method: 'POST', headers: { authorization: upstream.adminAuth }, body: form })
    expect(res.status, await res.text()).toBe(201)
  }

  const index = async (): Promise<{ res: Response; doc: IndexFile }> => {
    const res = await fetch(`${remote}/index.yaml`)
    expect(res.status).toBe(200)
    return { res, doc: parse(await res.text()) as IndexFile }
  }

  beforeAll(async () => {
    upstream = await startNodeProcess()
    proxy = await startCountingProxy(upstream.url)
    edge = await startNodeProcess()
    const create = async (node: NodeProcess, body: Record<string, unknown>) => {
      const res = await fetch(`${node.url}/api/v1/repositories`, {
        method: 'POST',
        headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
        body: JSON.stringify({ format: 'helm', ...body }),
      })
      expect(res.status, await res.text()).toBe(201)
    }
    await create(upstream, { key: 'charts' })
    await create(edge, {
      key: 'helm-remote',
      type: 'remote',
      public: true,
      upstream: { url: `${proxy.url}/helm/charts`, username: 'admin', password: ADMIN_PASSWORD },
      settings: { metadataTtlMs: 0 },
    })
    remote = `${edge.url}/helm/helm-remote`
    await upload('web', '1.0.0', true)
    await upload('web', '1.1.0')
    await upload('db', '0.3.0')
  }, 60_000)

  afterAll(async () => {
    await edge?.stop()
    await upstream?.stop()
    await proxy?.close()
  })

  it('serves the upstream index.yaml with every chart URL on the edge, and every URL yields the bytes its digest names', async () => {
    const { res, doc } = await index()
    expect(res.headers.get('x-ak-cache')).toBe('MISS')
    expect(Object.keys(doc.entries).sort()).toEqual(['db', 'web'])
    expect(doc.entries.web?.map((e) => e.version)).toEqual(['1.1.0', '1.0.0'])
    for (const versions of Object.values(doc.entries)) {
      for (const e of versions) {
        expect(e.urls).toEqual([`${remote}/charts/${e.name}-${e.version}.tgz`])
        const chart = await fetch(e.urls[0]!)
        expect(chart.status).toBe(200)
        expect(chart.headers.get('x-ak-cache')).toBe('MISS')
        const bytes = Buffer.from(await chart.arrayBuffer())
        expect(sha256(bytes)).toBe(e.digest)
        expect(bytes.equals(charts.get(`${e.name}-${e.version}.tgz`)!)).toBe(true)
      }
    }
    const prov = await fetch(`${remote}/charts/web-1.0.0.tgz.prov`)
    expect(prov.status).toBe(200)
    expect(await prov.text()).toContain('web-1.0.0.tgz: sha256:')
    // Cached for good: a second download is a HIT and the upstream saw one request per file.
    const again = await fetch(`${remote}/charts/web-1.0.0.tgz`)
    expect(again.headers.get('x-ak-cache')).toBe('HIT')
    await again.arrayBuffer()
    expect(proxy.count('/helm/charts/charts/web-1.0.0.tgz')).toBe(1)
    expect(proxy.count('/helm/charts/charts/web-1.0.0.tgz.prov')).toBe(1)
  })

  it('revalidates index.yaml upstream (304) and answers a client If-None-Match with 304', async () => {
    const first = await fetch(`${remote}/index.yaml`)
    const etag = first.headers.get('etag') as string
    await first.text()
    const again = await fetch(`${remote}/index.yaml`, { headers: { 'if-none-match': etag } })
    expect(again.status).toBe(304)
    expect(again.headers.get('x-ak-cache')).toBe('REVALIDATED')
    const seen = proxy.seen.filter((s) => s.url === '/helm/charts/index.yaml')
    expect(seen[seen.length - 1]?.status).toBe(304)
  })

  it('shows a chart version published upstream later (index.yaml is mutable)', async () => {
    await upload('db', '0.4.0')
    const { doc } = await index()
    expect(doc.entries.db?.map((e) => e.version)).toEqual(['0.4.0', '0.3.0'])
    expect((await fetch(`${remote}/charts/nothere-1.0.0.tgz`)).status).toBe(404)
    const post = await fetch(`${remote}/api/charts`, { method: 'POST', headers: { authorization: edge.adminAuth }, body: charts.get('db-0.3.0.tgz') })
    expect(post.status).toBe(400)
  })

  it('with the upstream stopped, cached charts are served and index.yaml is served stale with a warning', async () => {
    await upstream.stop()
    const { res, doc } = await index()
    expect(res.headers.get('x-ak-cache')).toBe('STALE')
    expect(res.headers.get('warning')).toBe('110 - "Response is Stale"')
    expect(doc.entries.db?.map((e) => e.version)).toEqual(['0.4.0', '0.3.0'])
    const cached = await fetch(`${remote}/charts/db-0.3.0.tgz`)
    expect(cached.status).toBe(200)
    expect(Buffer.from(await cached.arrayBuffer()).equals(charts.get('db-0.3.0.tgz')!)).toBe(true)
    // Listed but never downloaded: the upstream's failure, not a 404.
    expect((await fetch(`${remote}/charts/db-0.4.0.tgz`)).status).toBe(502)
  })
})

describe('helm remote index rewriting', () => {
  it('resolves relative chart URLs against the repository URL and keeps the digest', () => {
    const doc = parseUpstreamIndex(
      'apiVersion: v1\nentries:\n  app:\n    - name: app\n      version: 2.0.0\n      digest: ' +
        'a'.repeat(64) +
        '\n      urls: ["charts/app-2.0.0.tgz"]\n    - name: app\n      version: 1.0.0\n      urls: ["https://cdn.example/x/app-1.0.0.tgz"]\n',
    )
    expect(findChartUrl(doc, 'app-2.0.0.tgz', 'https://up.example/repo')).toEqual({ url: 'https://up.example/repo/charts/app-2.0.0.tgz', digest: 'a'.repeat(64) })
    expect(findChartUrl(doc, 'app-1.0.0.tgz', 'https://up.example/repo')?.url).toBe('https://cdn.example/x/app-1.0.0.tgz')
    expect(findChartUrl(doc, 'app-3.0.0.tgz', 'https://up.example/repo')).toBeUndefined()
    const rewritten = rewriteIndex(doc, 'http://edge/helm/r/charts/')
    expect(rewritten.entries.app?.map((e) => e.urls)).toEqual([['http://edge/helm/r/charts/app-2.0.0.tgz'], ['http://edge/helm/r/charts/app-1.0.0.tgz']])
  })

  it('refuses an index.yaml without an entries mapping', () => {
    expect(() => parseUpstreamIndex('entries: [1, 2]\n')).toThrow(/entries/)
    expect(() => parseUpstreamIndex('- just a list\n')).toThrow(/mapping/)
  })
})
