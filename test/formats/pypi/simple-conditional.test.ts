import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../../helpers/test-node.ts'
import { buildWheel, twineFields, uploadForm, wheelFilename } from '../../e2e/pypi/dists.ts'

/*
 * The simple pages carry a weak ETag; If-None-Match compares weakly (RFC 9110 §13.1.2), so the
 * tag in a list, without its W/, or `*` all revalidate with a 304.
 */

describe('pypi: If-None-Match on the simple pages', () => {
  let t: TestNode
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}${path}`, { headers: { authorization: ADMIN_BASIC, ...headers }, redirect: 'manual', signal: AbortSignal.timeout(30_000) })

  beforeAll(async () => {
    t = await startTestNode({ listen: true })
    const created = await t.node.app.inject({
      method: 'POST',
      url: '/api/v1/repositories',
      headers: { authorization: ADMIN_BASIC },
      payload: { key: 'py', format: 'pypi', type: 'local' },
    })
    expect(created.statusCode, created.body).toBe(201)
    const wheel = await buildWheel({ name: 'cond_lib', version: '1.0.0', files: { 'cond_lib/__init__.py': 'A = 1\n' } })
    const res = await fetch(`${t.url}/pypi/py/`, {
      method: 'POST',
      headers: { authorization: ADMIN_BASIC },
      body: uploadForm(wheelFilename('cond_lib', '1.0.0'), wheel, twineFields('cond_lib', '1.0.0', 'bdist_wheel', wheel)),
      signal: AbortSignal.timeout(30_000),
    })
    expect(res.status, await res.text()).toBe(200)
  })
  afterAll(async () => t?.close())

  for (const path of ['/pypi/py/simple/', '/pypi/py/simple/cond-lib/']) {
    it(`answers 304 to the ETag in a list, in its strong form, or * (${path})`, async () => {
      const first = await get(path)
      expect(first.status).toBe(200)
      await first.text()
      const etag = first.headers.get('etag') ?? ''
      expect(etag).toMatch(/^W\/"[0-9a-f]{40}"$/)
      const strong = etag.slice(2)
      for (const inm of [etag, `"other", ${etag}`, strong, `W/"other",${strong}`, '*']) {
        const again = await get(path, { 'if-none-match': inm })
        expect(again.status, inm).toBe(304)
        expect(again.headers.get('etag')).toBe(etag)
      }
      const miss = await get(path, { 'if-none-match': '"other", W/"another"' })
      expect(miss.status).toBe(200)
      expect(await miss.text()).toContain('cond')
    })
  }
})
