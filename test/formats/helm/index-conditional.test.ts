import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../../helpers/test-node.ts'
import { chartTgz } from '../../e2e/helm/charts.ts'

/*
 * index.yaml revalidation: If-None-Match is a list of entity tags compared weakly
 * (RFC 9110 §13.1.2), so a list holding the current ETag, `*`, or the ETag with W/ all get a
 * 304, from a local repository and from a remote one alike.
 */

describe('helm: If-None-Match on index.yaml', () => {
  let t: TestNode
  const get = (url: string, headers: Record<string, string> = {}) =>
    t.node.app.inject({ method: 'GET', url, headers: { authorization: ADMIN_BASIC, ...headers } })
  const createRepo = async (body: Record<string, unknown>) => {
    const res = await t.node.app.inject({ method: 'POST', url: '/api/v1/repositories', headers: { authorization: ADMIN_BASIC }, payload: body })
    expect(res.statusCode, res.body).toBe(201)
  }

  beforeAll(async () => {
    t = await startTestNode({ listen: true })
    await createRepo({ key: 'charts', format: 'helm', type: 'local', public: true })
    await createRepo({ key: 'charts-remote', format: 'helm', type: 'remote', upstream: { url: `${t.url}/helm/charts` } })
    const res = await t.node.app.inject({
      method: 'POST',
      url: '/helm/charts/api/charts',
      headers: { authorization: ADMIN_BASIC, 'content-type': 'application/octet-stream' },
      payload: await chartTgz({ name: 'web', version: '1.0.0' }),
    })
    expect(res.statusCode, res.body).toBe(201)
  })
  afterAll(async () => t?.close())

  for (const repo of ['charts', 'charts-remote']) {
    it(`answers 304 to a list, * or a weak form of the current ETag (${repo})`, async () => {
      const url = `/helm/${repo}/index.yaml`
      const first = await get(url)
      expect(first.statusCode, first.body).toBe(200)
      expect(first.body).toContain('web')
      const etag = String(first.headers.etag)
      expect(etag).toMatch(/^"[0-9a-f]{64}"$/)
      for (const inm of [etag, `"aaa", ${etag}`, `${etag},"zzz"`, `W/${etag}`, `"x", W/${etag}`, '*', ` * `]) {
        const again = await get(url, { 'if-none-match': inm })
        expect(again.statusCode, inm).toBe(304)
        expect(again.headers.etag).toBe(etag)
        expect(again.body).toBe('')
      }
      for (const inm of ['"aaa", "bbb"', etag.slice(0, -2) + '"', 'W/"nope"']) {
        const miss = await get(url, { 'if-none-match': inm })
        expect(miss.statusCode, inm).toBe(200)
        expect(miss.body).toContain('web')
      }
    })
  }
})
