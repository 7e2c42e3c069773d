import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, basic, startTestNode, type TestNode } from '../helpers/test-node.ts'
import { addRepo, bearer, call } from './fixtures.ts'

describe('users, groups, permissions and tokens API', () => {
  let t: TestNode
  beforeAll(async () => {
    t = await startTestNode()
    addRepo(t.node.store, 'priv')
    expect((await call(t.node.app, 'PUT', '/generic/priv/seed.txt', { auth: ADMIN_BASIC, body: 'seed' })).statusCode).toBe(201)
  })
  afterAll(() => t?.close())

  it('creates and lists users, storing the password only as a scrypt hash', async () => {
    const created = await call(t.node.app, 'POST', '/api/v1/users', {
      auth: ADMIN_BASIC,
      body: { name: 'carol', password: 'carol-secret-pw', email: 'carol@example.org' },
    })
    expect(created.statusCode).toBe(201)
    expect(created.json()).toMatchObject({ name: 'carol', email: 'carol@example.org', admin: false, disabled: false })
    expect(created.body).not.toContain('carol-secret-pw')
    const list = await call(t.node.app, 'GET', '/api/v1/users', { auth: ADMIN_BASIC })
    expect(list.json<{ name: string }[]>().map((u) => u.name)).toEqual(['admin', 'carol'])
    expect(list.body).not.toMatch(/password|scrypt/i)
    const row = t.node.store.db.prepare('SELECT * FROM users WHERE name = ?').get('carol') as { password_hash: string }
    expect(row.password_hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/)
    expect(JSON.stringify(row)).not.toContain('carol-secret-pw')
    // The password works, and a duplicate name is a conflict.
    expect((await call(t.node.app, 'GET', '/api/v1/auth/whoami', { auth: basic('carol', 'carol-secret-pw') })).json()).toMatchObject({ user: 'carol' })
    const dup = await call(t.node.app, 'POST', '/api/v1/users', { auth: ADMIN_BASIC, body: { name: 'carol', password: 'another-pw' } })
    expect(dup.statusCode).toBe(409)
    expect(dup.json()).toMatchObject({ error: 'AK_USER_EXISTS' })
    const short = await call(t.node.app, 'POST', '/api/v1/users', { auth: ADMIN_BASIC, body: { name: 'dave', password: 'short' } })
    expect(short.statusCode).toBe(400)
    expect(short.json()).toMatchObject({ error: 'AK_INVALID_INPUT' })
  })

  it('shows a token secret once, as `token`, and stores only its hash', async () => {
    const r = await call(t.node.app, 'POST', '/api/v1/tokens', { auth: basic('carol', 'carol-secret-pw'), body: { name: 'ci', access: 'read' } })
    expect(r.statusCode).toBe(201)
    const body = r.json<{ id: string; token: string; user: string; access: string; name: string }>()
    expect(body).toMatchObject({ user: 'carol', access: 'read', name: 'ci' })
    expect(body.token).toMatch(/^akt_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
    const secret = body.token.split('_').slice(2).join('_')
    const rows = t.node.store.db.prepare('SELECT * FROM tokens').all()
    expect(JSON.stringify(rows)).not.toContain(secret)
    expect(JSON.stringify(rows)).toContain(body.id)
    const listed = await call(t.node.app, 'GET', '/api/v1/tokens', { auth: basic('carol', 'carol-secret-pw') })
    expect(listed.json<{ id: string }[]>().map((x) => x.id)).toEqual([body.id])
    expect(listed.body).not.toContain(secret)
    expect(listed.body).not.toContain('"token"')
    // Another user cannot see or revoke carol's token.
    await call(t.node.app, 'POST', '/api/v1/users', { auth: ADMIN_BASIC, body: { name: 'eve', password: 'eve-password' } })
    expect((await call(t.node.app, 'GET', '/api/v1/tokens?user=carol', { auth: basic('eve', 'eve-password') })).statusCode).toBe(403)
    expect((await call(t.node.app, 'DELETE', `/api/v1/tokens/${body.id}`, { auth: basic('eve', 'eve-password') })).statusCode).toBe(403)
    expect((await call(t.node.app, 'GET', '/api/v1/auth/whoami', { auth: bearer(body.token) })).json()).toMatchObject({ user: 'carol', via: 'token' })
  })

  it('applies group grants to the members, and stops when a member leaves', async () => {
    const carol = basic('carol', 'carol-secret-pw')
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: carol })).statusCode).toBe(403)
    const g = await call(t.node.app, 'POST', '/api/v1/groups', { auth: ADMIN_BASIC, body: { name: 'devs', members: ['carol'] } })
    expect(g.statusCode).toBe(201)
    expect(g.json()).toMatchObject({ name: 'devs', members: ['carol'] })
    const grant = await call(t.node.app, 'PUT', '/api/v1/permissions', {
      auth: ADMIN_BASIC,
      body: { repo: 'priv', principalType: 'group', principal: 'devs', actions: ['write'] },
    })
    expect(grant.statusCode).toBe(200)
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: carol })).statusCode).toBe(200)
    expect((await call(t.node.app, 'PUT', '/generic/priv/carol.txt', { auth: carol, body: 'c' })).statusCode).toBe(201)
    const perms = await call(t.node.app, 'GET', '/api/v1/permissions?repo=priv', { auth: ADMIN_BASIC })
    expect(perms.json()).toEqual([{ repo: 'priv', principalType: 'group', principal: 'devs', actions: ['write'] }])
    expect((await call(t.node.app, 'PUT', '/api/v1/groups/devs/members', { auth: ADMIN_BASIC, body: { members: [] } })).statusCode).toBe(200)
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: carol })).statusCode).toBe(403)
    // A grant to a group that does not exist is refused.
    const missing = await call(t.node.app, 'PUT', '/api/v1/permissions', {
      auth: ADMIN_BASIC,
      body: { repo: 'priv', principalType: 'group', principal: 'ghosts', actions: ['read'] },
    })
    expect(missing.statusCode).toBe(404)
  })

  it('deletes a user grant with DELETE /api/v1/permissions', async () => {
    const carol = basic('carol', 'carol-secret-pw')
    await call(t.node.app, 'PUT', '/api/v1/permissions', { auth: ADMIN_BASIC, body: { repo: 'priv', principalType: 'user', principal: 'carol', actions: ['read'] } })
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: carol })).statusCode).toBe(200)
    const del = await call(t.node.app, 'DELETE', '/api/v1/permissions?repo=priv&principalType=user&principal=carol', { auth: ADMIN_BASIC })
    expect(del.statusCode).toBe(204)
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: carol })).statusCode).toBe(403)
  })
})

describe('failed-login rate limiting', () => {
  let t: TestNode
  beforeAll(async () => {
    t = await startTestNode({ flags: { 'auth.maxFailedLoginsPerUser': 3, 'auth.maxFailedLoginsPerAddress': 5 } })
    for (const name of ['victim', 'bystander']) {
      await call(t.node.app, 'POST', '/api/v1/users', { auth: ADMIN_BASIC, body: { name, password: `${name}-password` } })
    }
  })
  afterAll(() => t?.close())

  const login = (username: string, password: string, remoteAddress: string) =>
    call(t.node.app, 'POST', '/api/v1/auth/login', { body: { username, password }, remoteAddress })

  // Issue 11 part 5 replaced the old rule (a user name or an address locked for everybody after
  // N failures) with back-off on the failing (user, address) pair only.
  it('backs off the failing (user, address) pair only (429 with Retry-After, even with the right password); other addresses still log in', async () => {
    for (let i = 0; i < 3; i++) expect((await login('victim', 'wrong-password', '10.0.0.1')).statusCode).toBe(401)
    const blocked = await login('victim', 'victim-password', '10.0.0.1')
    expect(blocked.statusCode).toBe(429)
    expect(blocked.json()).toMatchObject({ error: 'AK_TOO_MANY_ATTEMPTS' })
    const retry = Number(blocked.headers['retry-after'])
    expect(retry).toBeGreaterThan(0)
    expect(retry).toBeLessThanOrEqual(2)
    // Basic auth is limited the same way on that pair.
    expect((await call(t.node.app, 'GET', '/api/v1/auth/whoami', { auth: basic('victim', 'victim-password'), remoteAddress: '10.0.0.1' })).statusCode).toBe(429)
    // The same user from an address without failures, and other users, are not affected.
    expect((await login('victim', 'victim-password', '10.0.1.1')).statusCode).toBe(200)
    expect((await call(t.node.app, 'GET', '/api/v1/auth/whoami', { auth: basic('victim', 'victim-password'), remoteAddress: '10.0.1.2' })).statusCode).toBe(200)
    expect((await login('bystander', 'bystander-password', '10.0.0.1')).statusCode).toBe(200)
  })

  it('an address over its limit still lets a user without failures there log in; its failing pairs back off', async () => {
    const names = ['a1', 'a2', 'a3', 'a4', 'a5']
    for (const n of names) expect((await login(n, 'wrong-password', '10.7.7.7')).statusCode).toBe(401)
    expect((await login('bystander', 'bystander-password', '10.7.7.7')).statusCode).toBe(200)
    // A new failing pair there waits the address's back-off (2 s after 6 failures) at once.
    expect((await login('a6', 'wrong-password', '10.7.7.7')).statusCode).toBe(401)
    const blocked = await login('a6', 'wrong-password', '10.7.7.7')
    expect(blocked.statusCode).toBe(429)
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0)
    expect((await login('a6', 'wrong-password', '10.7.7.8')).statusCode).toBe(401)
  })
})

describe('first start', () => {
  it('without AK_ADMIN_PASSWORD writes data/initial-admin-password (mode 0600) and that password logs in', async () => {
    const t = await startTestNode({ env: { AK_ADMIN_PASSWORD: '' } })
    try {
      const file = join(t.dataDir, 'initial-admin-password')
      expect(statSync(file).mode & 0o777).toBe(0o600)
      const password = readFileSync(file, 'utf8').trim()
      expect(password.length).toBeGreaterThanOrEqual(20)
      const ok = await call(t.node.app, 'GET', '/api/v1/users', { auth: basic('admin', password) })
      expect(ok.statusCode).toBe(200)
      expect((await call(t.node.app, 'GET', '/api/v1/users', { auth: ADMIN_BASIC })).statusCode).toBe(401)
    } finally {
      await t.close()
    }
  })
})
