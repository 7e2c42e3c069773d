import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, startTestNode, type TestNode } from '../helpers/test-node.ts'
import { call } from './fixtures.ts'

/*
 * PUT /api/v1/repositories/{key} takes back what GET returned, read-only fields (createdAt,
 * updatedAt, artifacts) included: they are accepted and ignored, while unknown fields are still
 * rejected.
 */

describe('repositories API: a GET body can be PUT back', () => {
  let t: TestNode
  const get = async (key: string) => {
    const r = await call(t.node.app, 'GET', `/api/v1/repositories/${key}`, { auth: ADMIN_BASIC })
    expect(r.statusCode, r.body).toBe(200)
    return r.json<Record<string, unknown>>()
  }
  const put = (key: string, body: unknown) => call(t.node.app, 'PUT', `/api/v1/repositories/${key}`, { auth: ADMIN_BASIC, body: body as object })
  const create = async (body: Record<string, unknown>) => {
    const r = await call(t.node.app, 'POST', '/api/v1/repositories', { auth: ADMIN_BASIC, body })
    expect(r.statusCode, r.body).toBe(201)
  }

  beforeAll(async () => {
    t = await startTestNode()
    await create({ key: 'loc', format: 'generic', type: 'local', description: 'the local one', settings: { immutable: true } })
    await create({ key: 'rem', format: 'generic', type: 'remote', upstream: { url: 'http://127.0.0.1:9/files', username: 'u', password: 'upstream-secret' } })
    await create({ key: 'virt', format: 'generic', type: 'virtual', settings: { members: ['loc', 'rem'], defaultDeployRepo: 'loc' } })
    const upload = await call(t.node.app, 'PUT', '/generic/loc/a.txt', { auth: ADMIN_BASIC, body: 'a' })
    expect(upload.statusCode).toBe(201)
  })
  afterAll(async () => t?.close())

  it('accepts the GET body of each repository type unchanged and keeps what it stores', async () => {
    for (const key of ['loc', 'rem', 'virt']) {
      const before = await get(key)
      expect(before).toHaveProperty('createdAt')
      expect(before).toHaveProperty('updatedAt')
      expect(before).toHaveProperty('artifacts')
      const stored = t.node.store.repositories.get(key)!
      const r = await put(key, before)
      expect(r.statusCode, `${key}: ${r.body}`).toBe(200)
      const after = r.json<Record<string, unknown>>()
      const { updatedAt: _u1, ...restBefore } = before
      const { updatedAt: _u2, ...restAfter } = after
      expect(restAfter, key).toEqual(restBefore)
      const now = t.node.store.repositories.get(key)!
      expect(now.createdAt).toBe(stored.createdAt)
      expect(now.description).toBe(stored.description)
      expect(now.public).toBe(stored.public)
    }
    expect((await get('loc')).artifacts).toBe(1)
    // The masked password came back, and the stored one is kept.
    expect((t.node.store.repositories.get('rem')!.settings.upstream as { password?: string }).password).toBe('upstream-secret')
  })

  it('ignores the read-only fields instead of storing them', async () => {
    const before = await get('loc')
    const stored = t.node.store.repositories.get('loc')!
    const r = await put('loc', { ...before, description: 'changed', createdAt: '2001-01-01T00:00:00.000Z', updatedAt: '2001-01-01T00:00:00.000Z', artifacts: 99 })
    expect(r.statusCode, r.body).toBe(200)
    const after = r.json<Record<string, unknown>>()
    expect(after.description).toBe('changed')
    expect(after.createdAt).toBe(before.createdAt)
    expect(after.artifacts).toBe(1)
    expect(Date.parse(String(after.updatedAt))).toBeGreaterThanOrEqual(Date.parse(String(before.updatedAt)))
    expect(t.node.store.repositories.get('loc')!.createdAt).toBe(stored.createdAt)
  })

  it('stores a replication object that differs from what GET showed', async () => {
    const body = await get('virt')
    const r = await put('virt', { ...body, replication: { ...(body.replication as object), mode: 'lazy' } })
    expect(r.statusCode, r.body).toBe(200)
    expect(r.json()).toMatchObject({ replication: { mode: 'lazy' }, settings: { replication: { mode: 'lazy' } } })
    expect((t.node.store.repositories.get('virt')!.settings.replication as { mode?: string }).mode).toBe('lazy')
  })

  it('still rejects unknown fields, read-only fields of the wrong type, and a changed identity', async () => {
    const body = await get('loc')
    for (const bad of [{ ...body, colour: 'blue' }, { ...body, artifacts: 'many' }, { ...body, createdAt: 12 }, { ...body, format: 'npm' }]) {
      const r = await put('loc', bad)
      expect(r.statusCode, JSON.stringify(bad)).toBe(400)
      expect(r.json()).toMatchObject({ error: 'AK_INVALID_INPUT' })
    }
  })
})
