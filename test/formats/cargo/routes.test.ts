import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../../helpers/test-node.ts'
import { crateFile, publishBody, publishMetadata } from '../../e2e/cargo/crate-builder.ts'

describe('cargo routes (in-process)', () => {
  let t: TestNode
  const inject = (method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, payload?: Buffer | object) =>
    t.node.app.inject({ method, url, headers: { authorization: ADMIN_BASIC }, payload: payload as never })

  beforeAll(async () => {
    t = await startTestNode()
    expect((await inject('POST', '/api/v1/repositories', { key: 'c', format: 'cargo', type: 'local' })).statusCode).toBe(201)
    const put = await inject('PUT', '/cargo/c/api/v1/crates/new', publishBody(publishMetadata('yanky', '1.0.0'), await crateFile('yanky', '1.0.0')))
    expect(put.statusCode).toBe(200)
  })
  afterAll(async () => t?.close())

  // Yanking keeps the bytes and changes only the artifact's properties; the store logged no
  // event for such a put, so peers would never have learnt of a yank.
  it('logs a replication event for a yank, whose payload carries the yanked flag', async () => {
    const log = t.node.store.log
    const before = log.count()
    expect((await inject('DELETE', '/cargo/c/api/v1/crates/yanky/1.0.0/yank')).json()).toEqual({ ok: true })
    expect(log.count()).toBe(before + 1)
    const last = log.since(log.origin, before, 10).at(-1)
    expect(last?.payload).toMatchObject({ properties: { cargo: { yanked: true } } })
    // Yanking again changes nothing and logs nothing.
    await inject('DELETE', '/cargo/c/api/v1/crates/yanky/1.0.0/yank')
    expect(log.count()).toBe(before + 1)
    await inject('PUT', '/cargo/c/api/v1/crates/yanky/1.0.0/unyank')
    expect(log.count()).toBe(before + 2)
  })

  it('keeps who published a version across yank and unyank (owners)', async () => {
    const r = await inject('GET', '/cargo/c/api/v1/crates/yanky/owners')
    expect(r.json()).toEqual({ users: [{ id: 1, login: 'admin', name: 'admin' }] })
  })

  it('answers yank of an unknown version with 404 and cargo error JSON', async () => {
    const r = await inject('DELETE', '/cargo/c/api/v1/crates/yanky/9.9.9/yank')
    expect(r.statusCode).toBe(404)
    expect(r.json().errors[0].detail).toMatch(/no version `9.9.9`/)
  })

  it('accepts the raw token cargo sends as the Authorization value', async () => {
    const token = (await inject('POST', '/api/v1/tokens', { name: 't' })).json().token as string
    const r = await t.node.app.inject({ method: 'GET', url: '/cargo/c/index/ya/nk/yanky', headers: { authorization: token } })
    expect(r.statusCode).toBe(200)
    const bad = await t.node.app.inject({ method: 'GET', url: '/cargo/c/index/ya/nk/yanky', headers: { authorization: `${token}x` } })
    expect(bad.statusCode).toBe(401)
    expect(bad.json()).toEqual({ errors: [{ detail: expect.any(String) }] })
  })
})
