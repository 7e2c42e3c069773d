import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HTTP_STATUS, toWireError } from '../../node/index.ts'
import { AkError, ERROR_CODES } from '../../store/index.ts'
import * as storeExports from '../../store/index.ts'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../helpers/test-node.ts'
import { addRepo, call } from './fixtures.ts'
import { head, rawExchange } from './raw-http.ts'

describe('error code table', () => {
  it('gives every store error code a 4xx/5xx HTTP status, and codes are unique', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length)
    const missing = ERROR_CODES.filter((c) => !(c in HTTP_STATUS))
    expect(missing).toEqual([])
    for (const c of ERROR_CODES) {
      expect(HTTP_STATUS[c]).toBeGreaterThanOrEqual(400)
      expect(HTTP_STATUS[c]).toBeLessThan(600)
    }
    // The table maps only codes that exist.
    expect(Object.keys(HTTP_STATUS).filter((c) => !ERROR_CODES.includes(c))).toEqual([])
  })

  it('lists in ERROR_CODES every error class the store exports, each with a distinct name', () => {
    const classes = Object.values(storeExports).filter(
      (v): v is typeof AkError & { code: string } => typeof v === 'function' && v.prototype instanceof AkError && typeof (v as { code?: unknown }).code === 'string',
    )
    expect(classes.length).toBeGreaterThanOrEqual(ERROR_CODES.length)
    expect(classes.map((c) => c.code).filter((c) => !ERROR_CODES.includes(c))).toEqual([])
    expect(new Set(classes.map((c) => c.name)).size).toBe(classes.length)
  })

  it('turns a domain error into {error, message} with its status, and anything unknown into a bare 500', () => {
    const wire = toWireError(new storeExports.ImmutableArtifactError('nope', { path: 'x' }))
    expect(wire).toEqual({ status: 409, body: { error: 'AK_ARTIFACT_IMMUTABLE', message: 'nope', details: { path: 'x' } } })
    const internal = toWireError(new Error('secret database path /var/lib/x'))
    expect(internal.status).toBe(500)
    expect(JSON.stringify(internal.body)).not.toContain('/var/lib/x')
  })
})

describe('health, readiness and metrics', () => {
  let t: TestNode
  beforeAll(async () => {
    t = await startTestNode({ listen: true, env: { AK_MAX_UPLOAD_BYTES: String(100_000) } })
    addRepo(t.node.store, 'files')
  })
  afterAll(() => t?.close())

  const metricsText = async () => {
    const m = await call(t.node.app, 'GET', '/metrics')
    expect(m.statusCode).toBe(200)
    expect(m.headers['content-type']).toMatch(/^text\/plain/)
    return m.payload
  }
  const metric = async (re: RegExp) => Number(re.exec(await metricsText())?.[1] ?? NaN)
  const BYTES_IN = /^ak_http_bytes_in_total (\d+)/m

  it('/health and /ready answer without credentials', async () => {
    const health = await call(t.node.app, 'GET', '/health')
    expect(health.statusCode).toBe(200)
    expect(health.json()).toEqual({ status: 'ok' })
    const ready = await call(t.node.app, 'GET', '/ready')
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ready', storage: 'fs' })
  })

  it('/metrics counts requests, blobs, bytes in and failed uploads in Prometheus text', async () => {
    const body = 'x'.repeat(1234)
    expect((await call(t.node.app, 'PUT', '/generic/files/m.txt', { auth: ADMIN_BASIC, body })).statusCode).toBe(201)
    const bad = await call(t.node.app, 'PUT', '/generic/files/bad.txt', {
      auth: ADMIN_BASIC,
      body: 'y',
      headers: { 'x-checksum-sha1': '0'.repeat(40) },
    })
    expect(bad.statusCode).toBe(400)
    const text = await metricsText()
    const value = (re: RegExp) => Number(re.exec(text)?.[1])
    expect(value(/^ak_http_requests_total\{[^}]*method="PUT"[^}]*status="201"[^}]*\} (\d+)/m)).toBe(1)
    expect(value(/^ak_http_requests_total\{[^}]*method="PUT"[^}]*status="400"[^}]*\} (\d+)/m)).toBe(1)
    expect(value(/^ak_blobs (\d+)/m)).toBe(1)
    expect(value(/^ak_blob_bytes (\d+)/m)).toBe(1234)
    expect(value(BYTES_IN)).toBeGreaterThanOrEqual(1235)
    expect(value(/^ak_upload_errors_total\{format="generic",reason="AK_DIGEST_MISMATCH"\} (\d+)/m)).toBe(1)
  })

  it('counts the bytes of a chunked upload (no Content-Length) received over a real socket', async () => {
    // Regression: bytes in were counted from the Content-Length header, so chunked uploads added nothing.
    const before = await metric(BYTES_IN)
    const chunks = [Buffer.alloc(30_000, 1), Buffer.alloc(20_000, 2)]
    const r = await fetch(`${t.url}/generic/files/chunked.bin`, {
      method: 'PUT',
      headers: { authorization: ADMIN_BASIC },
      body: Readable.toWeb(Readable.from(chunks)) as ReadableStream,
      duplex: 'half',
    } as RequestInit)
    expect(r.status).toBe(201)
    expect(await metric(BYTES_IN)).toBeGreaterThanOrEqual(before + 50_000)
  })

  it('does not count the announced size of a body it refused without reading', async () => {
    // Regression: a client announcing a huge Content-Length and refused with 413 added the whole announced size.
    const before = await metric(BYTES_IN)
    const x = await rawExchange(t.url, head('PUT', '/generic/files/huge.bin', { authorization: ADMIN_BASIC, 'content-length': 10 * 1024 ** 3 }), {
      drive: (s) => void s.write(Buffer.alloc(1000)),
    })
    expect(x.responses[0]?.status).toBe(413)
    // Refused on its Content-Length alone, it still counts as a failed upload.
    expect(await metric(/^ak_upload_errors_total\{format="generic",reason="AK_BODY_TOO_LARGE"\} (\d+)/m)).toBe(1)
    expect((await metric(BYTES_IN)) - before).toBeLessThan(1024 * 1024)
  })
})
