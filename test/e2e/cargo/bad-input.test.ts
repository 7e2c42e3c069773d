import { Readable } from 'node:stream'
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { crateFile, publishBody, publishMetadata, tarGz } from './crate-builder.ts'

/**
 * Publishes that must be refused with cargo's error JSON, storing nothing. Raw HTTP against
 * a real node process: cargo itself never sends most of these bodies.
 */
describe('cargo publish refuses bad input with cargo error JSON and stores nothing', () => {
  let node: NodeProcess
  let token: string
  let readToken: string

  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${text}`)
    return JSON.parse(text) as Record<string, unknown>
  }
  const publish = async (body: Buffer | Readable, auth = token, repo = 'bad') => {
    const r = await fetch(`${node.url}/cargo/${repo}/api/v1/crates/new`, {
      method: 'PUT',
      headers: { authorization: auth },
      body: body instanceof Readable ? (Readable.toWeb(body) as ReadableStream) : body,
      ...(body instanceof Readable ? { duplex: 'half' as const } : {}),
    })
    return { status: r.status, headers: r.headers, json: (await r.json()) as { errors: { detail: string }[] } }
  }
  const stored = async () => (await api('GET', '/api/v1/repositories/bad')).artifacts

  beforeAll(async () => {
    node = await startNodeProcess()
    await api('POST', '/api/v1/repositories', { key: 'bad', format: 'cargo', type: 'local' })
    await api('POST', '/api/v1/repositories', { key: 'open', format: 'cargo', type: 'local', public: true })
    await api('POST', '/api/v1/repositories', { key: 'files', format: 'generic', type: 'local' })
    token = (await api('POST', '/api/v1/tokens', { name: 'write' })).token as string
    readToken = (await api('POST', '/api/v1/tokens', { name: 'read', access: 'read' })).token as string
  })

  afterAll(async () => {
    const dir = node?.dataDir
    await node?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('accepts a well-formed publish (the baseline every refusal below differs from)', async () => {
    const r = await publish(publishBody(publishMetadata('good', '1.0.0'), await crateFile('good', '1.0.0')))
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ warnings: { invalid_categories: [], invalid_badges: [], other: [] } })
    expect(await stored()).toBe(1)
  })

  it('refuses a body that ends inside the .crate', async () => {
    const body = publishBody(publishMetadata('trunc', '1.0.0'), await crateFile('trunc', '1.0.0'))
    // Streamed without Content-Length, so only the length fields say what should come.
    const r = await publish(Readable.from([body.subarray(0, body.length - 20)]))
    expect(r.status).toBe(400)
    expect(r.json.errors[0]?.detail).toMatch(/ended inside the .crate/)
    expect(await stored()).toBe(1)
  })

  it('refuses length fields that disagree with the request length', async () => {
    const crate = await crateFile('liar', '1.0.0')
    const r = await publish(publishBody(publishMetadata('liar', '1.0.0'), crate, { crateLength: crate.length + 1000 }))
    expect(r.status).toBe(400)
    expect(r.json.errors[0]?.detail).toMatch(/length fields announce/)
    const j = await publish(publishBody(publishMetadata('liar', '1.0.0'), crate, { jsonLength: 20 }))
    expect(j.status).toBe(400)
    expect(j.json.errors[0]?.detail).toMatch(/not valid JSON/)
    expect(await stored()).toBe(1)
  })

  it("refuses a .crate whose Cargo.toml names another crate or version", async () => {
    let r = await publish(publishBody(publishMetadata('named', '1.0.0'), await crateFile('named', '1.0.0', { tomlName: 'other' })))
    expect(r.status).toBe(400)
    expect(r.json.errors[0]?.detail).toMatch(/Cargo.toml names `other` 1.0.0, but the metadata says `named` 1.0.0/)
    r = await publish(publishBody(publishMetadata('named', '1.0.0'), await crateFile('named', '1.0.0', { tomlVersion: '2.0.0' })))
    expect(r.status).toBe(400)
    r = await publish(publishBody(publishMetadata('named', '1.0.0'), await crateFile('other', '1.0.0')))
    expect(r.json.errors[0]?.detail).toMatch(/has no named-1.0.0\/Cargo.toml/)
    expect(await stored()).toBe(1)
  })

  it('refuses bytes that are not a gzip-compressed tar', async () => {
    const r = await publish(publishBody(publishMetadata('junk', '1.0.0'), Buffer.from('not a crate at all')))
    expect(r.status).toBe(400)
    expect(r.json.errors[0]?.detail).toMatch(/not a gzip-compressed tar/)
    expect(await stored()).toBe(1)
  })

  // 80 MiB of zeros ahead of Cargo.toml compress to ~80 KiB; the node must stop inflating at
  // its 64 MiB scan budget rather than expand the whole archive.
  it('refuses a decompression bomb', async () => {
    const bomb = await crateFile('bomb', '1.0.0', { before: [{ name: 'bomb-1.0.0/zeros', body: Buffer.alloc(80 * 1024 * 1024) }] })
    expect(bomb.length).toBeLessThan(1024 * 1024)
    const r = await publish(publishBody(publishMetadata('bomb', '1.0.0'), bomb))
    expect(r.status).toBe(400)
    expect(r.json.errors[0]?.detail).toMatch(/decompresses to more than 67108864 bytes/)
    expect(await stored()).toBe(1)
  })

  it('refuses names and versions that break cargo rules, and names colliding after normalisation', async () => {
    for (const [name, pattern] of [
      ['1st', /invalid crate name `1st`/],
      ['has.dot', /invalid crate name/],
      ['x'.repeat(65), /too long/],
      ['nul', /reserved/],
      ['GOOD', /conflicts with the existing crate `good`/],
    ] as const) {
      const r = await publish(publishBody(publishMetadata(name, '1.0.0'), await tarGz([{ name: 'a', body: 'b' }])))
      expect(r.status, name).toBe(400)
      expect(r.json.errors[0]?.detail).toMatch(pattern)
    }
    const v = await publish(publishBody(publishMetadata('okname', 'v1.0'), await crateFile('okname', 'v1.0')))
    expect(v.json.errors[0]?.detail).toMatch(/invalid version `v1.0`/)
    expect(await stored()).toBe(1)
  })

  it('refuses oversize metadata before reading it', async () => {
    const r = await publish(publishBody(Buffer.from('{}'), Buffer.alloc(4), { jsonLength: 64 * 1024 * 1024 }))
    expect(r.status).toBe(413)
    expect(r.json.errors[0]?.detail).toMatch(/publish metadata is 67108864 bytes/)
  })

  it('asks anonymous publishers to authenticate and forbids read-only tokens', async () => {
    const body = publishBody(publishMetadata('authz', '1.0.0'), await crateFile('authz', '1.0.0'))
    const anon = await fetch(`${node.url}/cargo/bad/api/v1/crates/new`, { method: 'PUT', body })
    expect(anon.status).toBe(401)
    expect(anon.headers.get('www-authenticate')).toBe('Cargo')
    expect(((await anon.json()) as { errors: unknown[] }).errors).toHaveLength(1)
    const bad = await publish(body, 'akt_AAAAAAAAAAAA_' + 'A'.repeat(43))
    expect(bad.status).toBe(401)
    const ro = await publish(body, readToken)
    expect(ro.status).toBe(403)
    expect(await stored()).toBe(1)
  })

  it('serves a public repository to anonymous cargo with auth-required false', async () => {
    const r = await publish(publishBody(publishMetadata('pub', '0.1.0'), await crateFile('pub', '0.1.0')), token, 'open')
    expect(r.status).toBe(200)
    const config = await fetch(`${node.url}/cargo/open/index/config.json`)
    expect(((await config.json()) as Record<string, unknown>)['auth-required']).toBe(false)
    const index = await fetch(`${node.url}/cargo/open/index/3/p/pub`)
    expect(index.status).toBe(200)
    const dl = await fetch(`${node.url}/cargo/open/api/v1/crates/pub/0.1.0/download`)
    expect(dl.status).toBe(200)
  })

  it('answers unknown crates, repositories of another format and unknown routes with cargo error JSON', async () => {
    const headers = { authorization: token }
    for (const path of ['/cargo/bad/index/no/pe/nope', '/cargo/missing/index/config.json', '/cargo/bad/api/v1/crates/good/9.9.9/download', '/cargo/bad/whatever']) {
      const r = await fetch(`${node.url}${path}`, { headers })
      expect(r.status, path).toBe(404)
      expect(((await r.json()) as { errors: { detail: string }[] }).errors[0]?.detail).toBeTruthy()
    }
    const wrong = await fetch(`${node.url}/cargo/files/index/config.json`, { headers })
    expect(wrong.status).toBe(400)
    expect(((await wrong.json()) as { errors: { detail: string }[] }).errors[0]?.detail).toMatch(/generic repository/)
  })
})
