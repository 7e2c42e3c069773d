import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../../helpers/test-node.ts'
import { makePackageTgz, publishDocument } from './fixtures.ts'

/*
 * Packuments carry a weak ETag; If-None-Match compares weakly (RFC 9110 §13.1.2), so the tag in
 * a list, without its W/, or `*` all revalidate with a 304, from a local repository and from a
 * remote one alike.
 */

describe('npm: If-None-Match on packuments', () => {
  let t: TestNode
  const get = (url: string, headers: Record<string, string> = {}) =>
    t.node.app.inject({ method: 'GET', url, headers: { authorization: ADMIN_BASIC, ...headers } })
  const createRepo = async (body: Record<string, unknown>) => {
    const r = await t.node.app.inject({ method: 'POST', url: '/api/v1/repositories', headers: { authorization: ADMIN_BASIC }, payload: body })
    expect(r.statusCode, r.body).toBe(201)
  }

  beforeAll(async () => {
    t = await startTestNode({ listen: true })
    await createRepo({ key: 'npm-local', format: 'npm', type: 'local', public: true })
    await createRepo({ key: 'npm-remote', format: 'npm', type: 'remote', upstream: { url: `${t.url}/npm/npm-local` } })
    const tgz = await makePackageTgz({ name: 'condpkg', version: '1.0.0' })
    const r = await t.node.app.inject({
      method: 'PUT',
      url: '/npm/npm-local/condpkg',
      headers: { authorization: ADMIN_BASIC, 'content-type': 'application/json' },
      payload: JSON.stringify(publishDocument('condpkg', '1.0.0', tgz)),
    })
    expect(r.statusCode, r.body).toBe(201)
  })
  afterAll(async () => t?.close())

  for (const repo of ['npm-local', 'npm-remote']) {
    it(`answers 304 to the ETag in a list, in its strong form, or * (${repo})`, async () => {
      const url = `/npm/${repo}/condpkg`
      const first = await get(url)
      expect(first.statusCode, first.body).toBe(200)
      const etag = String(first.headers.etag)
      expect(etag).toMatch(/^W\/".+"$/)
      const strong = etag.slice(2)
      for (const inm of [etag, `"other", ${etag}`, strong, `W/"other",${strong}`, '*']) {
        const again = await get(url, { 'if-none-match': inm })
        expect(again.statusCode, inm).toBe(304)
        expect(again.headers.etag).toBe(etag)
      }
      const miss = await get(url, { 'if-none-match': '"other", W/"another"' })
      expect(miss.statusCode).toBe(200)
      expect(miss.json()).toMatchObject({ name: 'condpkg' })
    })
  }
})
