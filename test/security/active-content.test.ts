// Stored XSS through uploads: a file uploaded (or proxied) as text/html, SVG or XML was served with that type from the node's origin, so opening its URL ran the uploader's script there.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'

const SCRIPT = '<html><body><script>fetch("/api/v1/tokens",{method:"POST"})</script></body></html>'
const SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
const XHTML_POM =
  '<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:h="http://www.w3.org/1999/xhtml"><modelVersion>4.0.0</modelVersion>' +
  '<groupId>com.example</groupId><artifactId>evil</artifactId><version>1.0</version><h:script>alert(1)</h:script></project>'
const CSP = "sandbox; default-src 'none'"
/** Upstream Content-Types no upload could carry (fastify refuses them on a request): unparseable ones. */
const UPSTREAM_TYPES = ['text/plain, text/html', 'html', 'text/html\tx', '', 'text/html']

describe('active content is never served as itself from the node origin', () => {
  let node: NodeProcess
  let upstream: Server
  let upstreamUrl: string

  const call = (method: string, path: string, init: { body?: string | Uint8Array; headers?: Record<string, string>; auth?: boolean } = {}) =>
    fetch(`${node.url}${path}`, {
      method,
      headers: { ...(init.auth === false ? {} : { authorization: node.adminAuth }), ...init.headers },
      body: init.body,
      signal: AbortSignal.timeout(20_000),
    })
  const createRepo = async (body: Record<string, unknown>) => {
    const res = await call('POST', '/api/v1/repositories', { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    expect(res.status, await res.clone().text()).toBe(201)
  }
  const put = async (path: string, body: string, contentType?: string) => {
    const res = await call('PUT', path, { body, headers: contentType ? { 'content-type': contentType } : {} })
    expect(res.status, await res.clone().text()).toBeLessThan(300)
  }
  /** The artifact headers every artifact response must carry. */
  const expectSandboxed = (res: Response) => {
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-security-policy')).toBe(CSP)
  }
  const expectDownload = (res: Response) => {
    expectSandboxed(res)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    expect(res.headers.get('content-disposition')).toBe('attachment')
  }

  beforeAll(async () => {
    // An upstream that serves HTML, for the remote (proxy) path.
    // /typed/<i> answers with the Content-Type UPSTREAM_TYPES[i], however malformed.
    upstream = createServer((req, res) => {
      const url = req.url ?? '/'
      const typed = url.startsWith('/typed/') ? UPSTREAM_TYPES[Number(url.slice('/typed/'.length))] : undefined
      res.writeHead(200, { 'content-type': typed ?? (url.endsWith('.svg') ? 'image/svg+xml' : 'text/html; charset=utf-8') })
      res.end(url.endsWith('.svg') ? SVG : SCRIPT)
    })
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/`
    node = await startNodeProcess()
    await createRepo({ key: 'files', format: 'generic', public: true })
    await createRepo({ key: 'site', format: 'generic', public: true, settings: { serveActiveContent: true } })
    await createRepo({ key: 'mirror', format: 'generic', type: 'remote', public: true, upstream: { url: upstreamUrl } })
    await createRepo({ key: 'jars', format: 'maven', public: true })
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    await new Promise((r) => upstream?.close(r))
  })

  it('serves an HTML upload as an attachment of application/octet-stream, sandboxed', async () => {
    await put('/generic/files/evil.html', SCRIPT, 'text/html')
    // Anonymously, as a victim's browser would open it.
    const res = await call('GET', '/generic/files/evil.html', { auth: false })
    expect(res.status).toBe(200)
    expectDownload(res)
    expect(await res.text()).toBe(SCRIPT)
    // HEAD and ranges carry the same headers.
    expectDownload(await call('HEAD', '/generic/files/evil.html', { auth: false }))
    const ranged = await call('GET', '/generic/files/evil.html', { auth: false, headers: { range: 'bytes=0-5' } })
    expect(ranged.status).toBe(206)
    expectDownload(ranged)
  })

  it('neutralises every type a browser renders as a document, however it is spelt', async () => {
    const types = [
      'image/svg+xml',
      'application/xhtml+xml',
      'text/xml',
      'application/xml',
      'application/rss+xml',
      'text/xsl',
      'multipart/x-mixed-replace; boundary=x',
      'TEXT/HTML; charset=utf-8',
      'text/html;',
      // Types a browser sniffs even with nosniff.
      '*/*',
      'unknown/unknown',
      'application/unknown',
    ]
    for (const [i, type] of types.entries()) {
      await put(`/generic/files/t${i}`, SVG, type)
      const res = await call('GET', `/generic/files/t${i}`, { auth: false })
      expect(res.status, type).toBe(200)
      expect(res.headers.get('content-type'), type).toBe('application/octet-stream')
      expect(res.headers.get('content-disposition'), type).toBe('attachment')
      expectSandboxed(res)
    }
    // No Content-Type on upload: stored and served as application/octet-stream, which browsers download.
    const untyped = await call('PUT', '/generic/files/untyped', { body: new TextEncoder().encode(SCRIPT) })
    expect(untyped.status).toBe(201)
    const res = await call('GET', '/generic/files/untyped', { auth: false })
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    expectSandboxed(res)
  })

  it('keeps passive types, still with nosniff and the sandbox', async () => {
    for (const [path, type] of [
      ['notes.txt', 'text/plain; charset=utf-8'],
      ['data.json', 'application/json'],
      ['logo.png', 'image/png'],
      ['app.js', 'text/javascript'],
    ] as const) {
      await put(`/generic/files/${path}`, 'x', type)
      const res = await call('GET', `/generic/files/${path}`, { auth: false })
      expect(res.headers.get('content-type')).toBe(type)
      expect(res.headers.get('content-disposition')).toBeNull()
      expectSandboxed(res)
    }
  })

  it('serves active content as itself where the repository opts in, still sandboxed', async () => {
    await put('/generic/site/index.html', SCRIPT, 'text/html; charset=utf-8')
    const res = await call('GET', '/generic/site/index.html', { auth: false })
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-disposition')).toBeNull()
    expectSandboxed(res)
    // A type browsers would sniff is a download even there.
    await put('/generic/site/odd', SCRIPT, '*/*')
    expectDownload(await call('GET', '/generic/site/odd', { auth: false }))
  })

  it('only takes a boolean for settings.serveActiveContent', async () => {
    const res = await call('POST', '/api/v1/repositories', {
      body: JSON.stringify({ key: 'bad', format: 'generic', settings: { serveActiveContent: 'yes' } }),
      headers: { 'content-type': 'application/json' },
    })
    expect(res.status).toBe(400)
  })

  it('neutralises HTML from a remote upstream, streamed on the first fetch and from the cache after', async () => {
    const first = await call('GET', '/generic/mirror/page.html', { auth: false })
    expect(first.status).toBe(200)
    expectDownload(first)
    expect(await first.text()).toBe(SCRIPT)
    const cached = await call('GET', '/generic/mirror/page.html', { auth: false })
    expect(cached.headers.get('x-ak-cache')).toBe('HIT')
    expectDownload(cached)
    const svg = await call('GET', '/generic/mirror/pic.svg', { auth: false })
    expectDownload(svg)
    await svg.arrayBuffer()
    for (const [i, type] of UPSTREAM_TYPES.entries()) {
      const res = await call('GET', `/generic/mirror/typed/${i}`, { auth: false })
      expect(res.status, type).toBe(200)
      expect(Object.fromEntries(res.headers), type).toMatchObject({
        'content-type': 'application/octet-stream',
        'content-disposition': 'attachment',
        'x-content-type-options': 'nosniff',
        'content-security-policy': CSP,
      })
      await res.arrayBuffer()
    }
  })

  it('serves a deployed POM (XML a browser would render) as a download', async () => {
    await put('/maven/jars/com/example/evil/1.0/evil-1.0.pom', XHTML_POM, 'application/xml')
    const res = await call('GET', '/maven/jars/com/example/evil/1.0/evil-1.0.pom', { auth: false })
    expect(res.status).toBe(200)
    expectDownload(res)
    expect(await res.text()).toBe(XHTML_POM)
    // The node's own generated XML goes out the same way.
    const metadata = await call('GET', '/maven/jars/com/example/evil/maven-metadata.xml', { auth: false })
    expect(metadata.status).toBe(200)
    expectDownload(metadata)
    expect(await metadata.text()).toContain('<artifactId>evil</artifactId>')
  })

  it('says nosniff on every API, operations and error response', async () => {
    const paths: [string, string, boolean][] = [
      ['GET', '/health', false],
      ['GET', '/ready', false],
      ['GET', '/metrics', false],
      ['GET', '/api/v1/repositories', true],
      ['GET', '/api/v1/repositories/files', false],
      ['GET', '/api/v1/users', false], // 401
      ['GET', '/api/v1/nothing-here', true], // 404
      ['GET', '/no/such/route', false], // 404
      ['GET', '/generic/files/missing.bin', false], // 404 of a format
      ['GET', '/npm/files/some-package', true], // 400 format mismatch
      ['GET', '/v2/', false], // 401 with a challenge
    ]
    for (const [method, path, auth] of paths) {
      const res = await call(method, path, { auth })
      await res.arrayBuffer()
      expect(res.headers.get('x-content-type-options'), `${method} ${path} (${res.status})`).toBe('nosniff')
    }
  })

  it('says nosniff on the raw answer to malformed HTTP', async () => {
    const { port, hostname } = new URL(node.url)
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname)
      let text = ''
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer to malformed HTTP')))
      socket.on('data', (d) => (text += d.toString()))
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n')
    })
    expect(answer).toMatch(/^HTTP\/1.1 400/)
    expect(answer.toLowerCase()).toContain('x-content-type-options: nosniff')
  })
})
