import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../../helpers/test-node.ts'
import { libraryModule } from '../../e2e/go/module-zips.ts'

/*
 * The generated GOPROXY answers of a local repository (@v/list, @latest, .info) carry a strong
 * ETag and Last-Modified and answer If-None-Match / If-Modified-Since with 304, so a remote
 * repository (or any caching proxy) in front of a node revalidates them instead of fetching
 * them again whenever its TTL runs out.
 */

const MODULE = 'example.com/cond'
const LIST = `/go/go-local/${MODULE}/@v/list`
const LATEST = `/go/go-local/${MODULE}/@latest`

describe('go: conditional requests for generated metadata', () => {
  let t: TestNode
  const get = (url: string, headers: Record<string, string> = {}) =>
    t.node.app.inject({ method: 'GET', url, headers: { authorization: ADMIN_BASIC, ...headers } })
  const upload = async (version: string) => {
    const res = await t.node.app.inject({
      method: 'PUT',
      url: `/go/go-local/${MODULE}/@v/${version}.zip`,
      headers: { authorization: ADMIN_BASIC, 'content-type': 'application/zip' },
      payload: await libraryModule(MODULE, version, `hello ${version}`),
    })
    expect(res.statusCode, res.body).toBe(201)
  }
  const createRepo = async (body: Record<string, unknown>) => {
    const res = await t.node.app.inject({ method: 'POST', url: '/api/v1/repositories', headers: { authorization: ADMIN_BASIC }, payload: body })
    expect(res.statusCode, res.body).toBe(201)
  }

  beforeAll(async () => {
    t = await startTestNode({ listen: true })
    await createRepo({ key: 'go-local', format: 'go', type: 'local', public: true })
    await upload('v1.0.0')
  })
  afterAll(async () => t?.close())

  it('sends a strong ETag and Last-Modified with @v/list, @latest and .info', async () => {
    for (const url of [LIST, LATEST, `/go/go-local/${MODULE}/@v/v1.0.0.info`]) {
      const res = await get(url)
      expect(res.statusCode, url).toBe(200)
      expect(res.headers.etag, url).toMatch(/^"[0-9a-f]{64}"$/)
      const lastModified = Date.parse(String(res.headers['last-modified']))
      expect(Number.isNaN(lastModified), url).toBe(false)
      expect(Math.abs(Date.now() - lastModified), url).toBeLessThan(60_000)
      expect(res.headers['cache-control'], url).toBe('no-cache')
    }
    expect((await get(LIST)).body).toBe('v1.0.0\n')
  })

  it('answers If-None-Match with 304 (exact, in a list, weak, or *) and keeps the validators on the 304', async () => {
    for (const url of [LIST, LATEST]) {
      const first = await get(url)
      const etag = String(first.headers.etag)
      for (const inm of [etag, `"other", ${etag}`, `W/${etag}`, '*']) {
        const again = await get(url, { 'if-none-match': inm })
        expect(again.statusCode, `${url} ${inm}`).toBe(304)
        expect(again.body).toBe('')
        expect(again.headers.etag).toBe(etag)
        expect(again.headers['last-modified']).toBe(first.headers['last-modified'])
      }
      const other = await get(url, { 'if-none-match': '"not-this-one"' })
      expect(other.statusCode).toBe(200)
      expect(other.body).toBe(first.body)
    }
  })

  it('answers If-Modified-Since with 304 when nothing newer is stored, and 200 for an older date', async () => {
    const first = await get(LIST)
    const lastModified = String(first.headers['last-modified'])
    expect((await get(LIST, { 'if-modified-since': lastModified })).statusCode).toBe(304)
    const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString()
    const older = await get(LIST, { 'if-modified-since': earlier })
    expect(older.statusCode).toBe(200)
    expect(older.body).toBe('v1.0.0\n')
    // If-None-Match decides when both are sent: a stale tag with a current date is a 200.
    expect((await get(LIST, { 'if-none-match': '"stale"', 'if-modified-since': lastModified })).statusCode).toBe(200)
  })

  it('changes the validators when a version is added or deleted', async () => {
    const before = await get(LIST)
    const latestBefore = await get(LATEST)
    await upload('v1.1.0')
    const after = await get(LIST, { 'if-none-match': String(before.headers.etag) })
    expect(after.statusCode).toBe(200)
    expect(after.body).toBe('v1.0.0\nv1.1.0\n')
    expect(after.headers.etag).not.toBe(before.headers.etag)
    const latestAfter = await get(LATEST, { 'if-none-match': String(latestBefore.headers.etag) })
    expect(latestAfter.statusCode).toBe(200)
    expect(JSON.parse(latestAfter.body)).toMatchObject({ Version: 'v1.1.0' })

    // A delete leaves no newer row behind; the ETag still catches it.
    const del = await t.node.app.inject({ method: 'DELETE', url: `/go/go-local/${MODULE}/@v/v1.1.0.zip`, headers: { authorization: ADMIN_BASIC } })
    expect(del.statusCode).toBe(204)
    const gone = await get(LIST, { 'if-none-match': String(after.headers.etag) })
    expect(gone.statusCode).toBe(200)
    expect(gone.body).toBe('v1.0.0\n')
    expect(gone.headers.etag).toBe(before.headers.etag)
  })

  it('lets a remote repository in front of the node revalidate @v/list and @latest (304 upstream, REVALIDATED)', async () => {
    await createRepo({
      key: 'go-remote',
      format: 'go',
      type: 'remote',
      upstream: { url: `${t.url}/go/go-local` },
      settings: { metadataTtlMs: 0 },
    })
    for (const path of [`${MODULE}/@v/list`, `${MODULE}/@latest`]) {
      const first = await get(`/go/go-remote/${path}`)
      expect(first.statusCode, first.body).toBe(200)
      expect(first.headers['x-ak-cache'], path).toBe('MISS')
      const second = await get(`/go/go-remote/${path}`)
      expect(second.statusCode).toBe(200)
      expect(second.headers['x-ak-cache'], path).toBe('REVALIDATED')
      expect(second.body).toBe(first.body)
    }
  })
})
