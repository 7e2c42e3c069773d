import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../../helpers/test-node.ts'

/**
 * An npm remote repository in front of an upstream that misbehaves on purpose. Every bad answer
 * must become a clear 502 (AK_UPSTREAM_INVALID) and leave nothing stored.
 */
describe('npm remote repository with a bad upstream', () => {
  let edge: TestNode
  let bad: Server
  let base: string
  const tarball = Buffer.from('not really a tarball, but bytes with a known digest')

  beforeAll(async () => {
    bad = createServer((req, res) => {
      const url = req.url ?? '/'
      if (url === '/silent') return // never answers
      if (url === '/malformed') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"malformed","versions":{')
      if (url === '/wrong-name') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"other","versions":{}}')
      if (url === '/oversize') {
        const body = JSON.stringify({ name: 'oversize', versions: {}, readme: 'x'.repeat(64 * 1024) })
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(body)
      }
      if (url === '/short') {
        // Announces more than it sends, then hangs up.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' })
        res.write('{"name":"short","versions":{}')
        setTimeout(() => res.destroy(), 20)
        return
      }
      if (url === '/liar') {
        const doc = {
          name: 'liar',
          'dist-tags': { latest: '1.0.0' },
          versions: { '1.0.0': { name: 'liar', version: '1.0.0', dist: { tarball: `${base}/liar/-/liar-1.0.0.tgz`, shasum: '0'.repeat(40) } } },
        }
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc))
      }
      if (url === '/liar/-/liar-1.0.0.tgz') return void res.writeHead(200, { 'content-length': String(tarball.length) }).end(tarball)
      res.writeHead(404).end()
    })
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`
    edge = await startTestNode({ listen: true, flags: { 'remote.maxMetadataBytes': 32 * 1024, 'remote.timeoutMs': 500 } })
    const res = await fetch(`${edge.url}/api/v1/repositories`, {
      method: 'POST',
      headers: { authorization: ADMIN_BASIC, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'npm-bad', format: 'npm', type: 'remote', public: true, upstream: { url: base } }),
    })
    expect(res.status).toBe(201)
  })

  afterAll(async () => {
    await edge?.close()
    bad?.closeAllConnections()
    await new Promise<void>((r) => bad?.close(() => r()))
  })

  const expectRefused = async (path: string, pattern: RegExp) => {
    const res = await fetch(`${edge.url}/npm/npm-bad/${path}`)
    const body = (await res.json()) as { code: string; error: string }
    expect(res.status, body.error).toBe(502)
    expect(body.code).toBe('AK_UPSTREAM_INVALID')
    expect(body.error).toMatch(pattern)
  }

  it('refuses a malformed packument with a clear error and stores nothing', async () => {
    await expectRefused('malformed', /not valid JSON/)
    await expectRefused('wrong-name', /names 'other'/)
    expect(edge.node.store.artifacts.count('npm-bad')).toBe(0)
  })

  it('refuses a packument larger than remote.maxMetadataBytes', async () => {
    await expectRefused('oversize', /larger than 32768 bytes/)
    expect(edge.node.store.artifacts.count('npm-bad')).toBe(0)
  })

  it('gives up on an upstream that does not answer within remote.timeoutMs (504)', async () => {
    const started = Date.now()
    const res = await fetch(`${edge.url}/npm/npm-bad/silent`)
    expect(res.status).toBe(504)
    expect(((await res.json()) as { code: string }).code).toBe('AK_UPSTREAM_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('refuses a packument shorter than its Content-Length', async () => {
    const res = await fetch(`${edge.url}/npm/npm-bad/short`)
    expect(res.status).toBe(502)
    expect(edge.node.store.artifacts.count('npm-bad')).toBe(0)
  })

  it('refuses a tarball whose bytes do not match the packument shasum, storing only the packument', async () => {
    const res = await fetch(`${edge.url}/npm/npm-bad/liar/-/liar-1.0.0.tgz`)
    if (res.status === 200) {
      await expect(res.arrayBuffer()).rejects.toThrow()
    } else {
      expect(res.status).toBe(502)
      expect(((await res.json()) as { code: string }).code).toBe('AK_UPSTREAM_INVALID')
    }
    expect(edge.node.store.artifacts.get('npm-bad', 'liar/-/liar-1.0.0.tgz')).toBeUndefined()
    expect(edge.node.store.artifacts.count('npm-bad')).toBe(1)
  })
})
