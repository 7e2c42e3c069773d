// Pins that a token never widens itself: a token scoped to one repository could mint a token for
// every repository (POST /api/v1/tokens defaulted to "*"), and a read-only token could revoke its
// user's other tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'

let node: NodeProcess

async function api(method: string, path: string, auth: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

async function token(auth: string, body: Record<string, unknown>): Promise<{ id: string; token: string; repos: string[] }> {
  const r = await api('POST', '/api/v1/tokens', auth, body)
  expect(r.status).toBe(201)
  return r.body as unknown as { id: string; token: string; repos: string[] }
}

beforeAll(async () => {
  node = await startNodeProcess()
  for (const key of ['team-a', 'team-b']) expect((await api('POST', '/api/v1/repositories', node.adminAuth, { key, format: 'generic' })).status).toBe(201)
  expect((await api('PUT', '/generic/team-b/secret.txt', node.adminAuth)).status).toBe(201)
})

afterAll(async () => {
  await node?.stop()
})

describe('a token never mints or manages beyond itself', () => {
  it('an admin token scoped to one repository creates tokens for that repository only', async () => {
    // Even a node admin's token: its scope, not its owner, bounds what it may hand out.
    const scoped = await token(node.adminAuth, { repos: ['team-a'], access: 'admin' })
    const bearer = `Bearer ${scoped.token}`

    for (const repos of [['*'], ['team-b'], ['team-a', 'team-b']]) {
      const r = await api('POST', '/api/v1/tokens', bearer, { repos, access: 'read' })
      expect(r.status, `repos ${repos.join(',')}`).toBe(403)
    }
    const inherited = await token(bearer, { access: 'read' })
    expect(inherited.repos).toEqual(['team-a'])
    const read = await fetch(`${node.url}/generic/team-b/secret.txt`, { headers: { authorization: `Bearer ${inherited.token}` } })
    expect(read.status).toBe(403)
    expect((await token(bearer, { repos: ['team-a'], access: 'read' })).repos).toEqual(['team-a'])
  })

  it('a token below admin revokes itself, never its siblings', async () => {
    const readOnly = await token(node.adminAuth, { access: 'read' })
    const sibling = await token(node.adminAuth, { access: 'write' })
    expect((await api('DELETE', `/api/v1/tokens/${sibling.id}`, `Bearer ${readOnly.token}`)).status).toBe(403)
    expect((await api('GET', '/api/v1/auth/whoami', `Bearer ${sibling.token}`)).status).toBe(200)
    expect((await api('DELETE', `/api/v1/tokens/${readOnly.id}`, `Bearer ${readOnly.token}`)).status).toBe(204)
    expect((await api('GET', '/api/v1/auth/whoami', `Bearer ${readOnly.token}`)).status).toBe(401)
  })
})
