import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateToken } from '../../node/index.ts'
import { ADMIN_BASIC, basic, startTestNode, type TestNode } from '../helpers/test-node.ts'
import { addRepo, addUser, bearer, call } from './fixtures.ts'

let t: TestNode
const READER = basic('reader', 'reader-password')
const WRITER = basic('writer', 'writer-password')

beforeAll(async () => {
  t = await startTestNode()
  const s = t.node.store
  addRepo(s, 'pub', { public: true })
  addRepo(s, 'priv')
  await addUser(s, 'reader', 'reader-password', { pub: ['read'], priv: ['read'] })
  await addUser(s, 'writer', 'writer-password', { pub: ['write'], priv: ['write'] })
  for (const repo of ['pub', 'priv']) {
    const r = await call(t.node.app, 'PUT', `/generic/${repo}/seed.txt`, { auth: ADMIN_BASIC, body: 'seed' })
    expect(r.statusCode).toBe(201)
  }
})
afterAll(() => t?.close())

describe('authorization matrix', () => {
  type Op = 'GET artifact' | 'PUT artifact' | 'DELETE artifact' | 'GET repo' | 'PATCH repo' | 'POST repos' | 'GET users'
  const principals = { anonymous: undefined, reader: READER, writer: WRITER, admin: ADMIN_BASIC } as const
  type Who = keyof typeof principals
  const ops: Op[] = ['GET artifact', 'PUT artifact', 'DELETE artifact', 'GET repo', 'PATCH repo', 'POST repos', 'GET users']

  // Expected status per principal, repository and operation. Anonymous denials are 401,
  // authenticated ones 403. A write grant includes read but not delete.
  const expected: Record<'pub' | 'priv', Record<Who, Record<Op, number>>> = {
    pub: {
      anonymous: { 'GET artifact': 200, 'PUT artifact': 401, 'DELETE artifact': 401, 'GET repo': 200, 'PATCH repo': 401, 'POST repos': 401, 'GET users': 401 },
      reader: { 'GET artifact': 200, 'PUT artifact': 403, 'DELETE artifact': 403, 'GET repo': 200, 'PATCH repo': 403, 'POST repos': 403, 'GET users': 403 },
      writer: { 'GET artifact': 200, 'PUT artifact': 201, 'DELETE artifact': 403, 'GET repo': 200, 'PATCH repo': 403, 'POST repos': 403, 'GET users': 403 },
      admin: { 'GET artifact': 200, 'PUT artifact': 201, 'DELETE artifact': 204, 'GET repo': 200, 'PATCH repo': 200, 'POST repos': 201, 'GET users': 200 },
    },
    priv: {
      anonymous: { 'GET artifact': 401, 'PUT artifact': 401, 'DELETE artifact': 401, 'GET repo': 401, 'PATCH repo': 401, 'POST repos': 401, 'GET users': 401 },
      reader: { 'GET artifact': 200, 'PUT artifact': 403, 'DELETE artifact': 403, 'GET repo': 200, 'PATCH repo': 403, 'POST repos': 403, 'GET users': 403 },
      writer: { 'GET artifact': 200, 'PUT artifact': 201, 'DELETE artifact': 403, 'GET repo': 200, 'PATCH repo': 403, 'POST repos': 403, 'GET users': 403 },
      admin: { 'GET artifact': 200, 'PUT artifact': 201, 'DELETE artifact': 204, 'GET repo': 200, 'PATCH repo': 200, 'POST repos': 201, 'GET users': 200 },
    },
  }

  it('answers every principal × repository × operation with exactly the expected status', async () => {
    const app = t.node.app
    const actual: typeof expected = { pub: {} as never, priv: {} as never }
    const bodies: { who: Who; status: number; error: string; wwwAuth: boolean }[] = []
    for (const repo of ['pub', 'priv'] as const) {
      for (const [who, auth] of Object.entries(principals) as [Who, string | undefined][]) {
        const row = {} as Record<Op, number>
        for (const op of ops) {
          let r
          switch (op) {
            case 'GET artifact':
              r = await call(app, 'GET', `/generic/${repo}/seed.txt`, { auth })
              break
            case 'PUT artifact':
              r = await call(app, 'PUT', `/generic/${repo}/by-${who}.txt`, { auth, body: `from ${who}` })
              break
            case 'DELETE artifact': {
              const seeded = await call(app, 'PUT', `/generic/${repo}/victim-${who}.txt`, { auth: ADMIN_BASIC, body: 'victim' })
              expect(seeded.statusCode).toBe(201)
              r = await call(app, 'DELETE', `/generic/${repo}/victim-${who}.txt`, { auth })
              break
            }
            case 'GET repo':
              r = await call(app, 'GET', `/api/v1/repositories/${repo}`, { auth })
              break
            case 'PATCH repo':
              r = await call(app, 'PATCH', `/api/v1/repositories/${repo}`, { auth, body: { description: `by ${who}` } })
              break
            case 'POST repos':
              r = await call(app, 'POST', '/api/v1/repositories', { auth, body: { key: `new-${repo}-${who}`, format: 'generic' } })
              break
            case 'GET users':
              r = await call(app, 'GET', '/api/v1/users', { auth })
              break
          }
          row[op] = r.statusCode
          if (r.statusCode === 401 || r.statusCode === 403) {
            bodies.push({ who, status: r.statusCode, error: r.json<{ error: string }>().error, wwwAuth: r.headers['www-authenticate'] !== undefined })
          }
        }
        actual[repo][who] = row
      }
    }
    expect(actual).toEqual(expected)
    // Denials are JSON with the domain code; 401 asks for credentials.
    for (const b of bodies) {
      expect(b).toEqual({ who: b.who, status: b.status, error: b.status === 401 ? 'AK_UNAUTHORIZED' : 'AK_FORBIDDEN', wwwAuth: b.status === 401 })
    }
    // Denied writes changed nothing.
    const s = t.node.store
    for (const repo of ['pub', 'priv']) {
      expect(s.artifacts.get(repo, 'by-anonymous.txt')).toBeUndefined()
      expect(s.artifacts.get(repo, 'by-reader.txt')).toBeUndefined()
      expect(s.artifacts.get(repo, 'victim-writer.txt')).toBeDefined()
      expect(s.artifacts.get(repo, 'victim-admin.txt')).toBeUndefined()
    }
    expect(s.repositories.get('new-pub-reader')).toBeUndefined()
  })
})

describe('credentials', () => {
  const createToken = async (body: Record<string, unknown>, auth = ADMIN_BASIC) => {
    const r = await call(t.node.app, 'POST', '/api/v1/tokens', { auth, body })
    expect(r.statusCode).toBe(201)
    return r.json<{ id: string; token: string }>()
  }

  it('a read-scoped token reads but cannot PUT (403)', async () => {
    const { token } = await createToken({ access: 'read' })
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: bearer(token) })).statusCode).toBe(200)
    const put = await call(t.node.app, 'PUT', '/generic/priv/read-token.txt', { auth: bearer(token), body: 'x' })
    expect(put.statusCode).toBe(403)
    expect(t.node.store.artifacts.get('priv', 'read-token.txt')).toBeUndefined()
  })

  it('a token scoped to one repository cannot read another private repository, even for an admin owner', async () => {
    const { token } = await createToken({ repos: ['pub'] })
    expect((await call(t.node.app, 'GET', '/generic/pub/seed.txt', { auth: bearer(token) })).statusCode).toBe(200)
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: bearer(token) })).statusCode).toBe(403)
    expect((await call(t.node.app, 'PUT', '/generic/priv/scoped.txt', { auth: bearer(token), body: 'x' })).statusCode).toBe(403)
  })

  it('refuses an expired token with 401', async () => {
    const g = generateToken()
    t.node.store.auth.createToken({
      id: g.id,
      user: 'reader',
      name: 'old',
      secretHash: g.secretHash,
      repos: ['*'],
      access: 'read',
      expiresAt: Date.now() - 1000,
      createdAt: Date.now() - 100_000,
    })
    const r = await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: bearer(g.token) })
    expect(r.statusCode).toBe(401)
    expect(r.json()).toMatchObject({ error: 'AK_UNAUTHORIZED' })
  })

  it('refuses a revoked token with 401', async () => {
    const { id, token } = await createToken({}, READER)
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: bearer(token) })).statusCode).toBe(200)
    expect((await call(t.node.app, 'DELETE', `/api/v1/tokens/${id}`, { auth: READER })).statusCode).toBe(204)
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: bearer(token) })).statusCode).toBe(401)
  })

  it('accepts a token as Basic user:token and as Bearer, but not under another user name', async () => {
    const { token } = await createToken({}, READER)
    const who = async (auth: string) => {
      const r = await call(t.node.app, 'GET', '/api/v1/auth/whoami', { auth })
      return { status: r.statusCode, user: r.statusCode === 200 ? r.json<{ user: string }>().user : undefined }
    }
    expect(await who(basic('reader', token))).toEqual({ status: 200, user: 'reader' })
    expect(await who(bearer(token))).toEqual({ status: 200, user: 'reader' })
    expect(await who(basic('writer', token))).toEqual({ status: 401, user: undefined })
    expect(await who(bearer(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`))).toEqual({ status: 401, user: undefined })
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: basic('reader', token) })).statusCode).toBe(200)
  })

  it('logs in with POST /api/v1/auth/login and the session JWT works as a Bearer token', async () => {
    const login = await call(t.node.app, 'POST', '/api/v1/auth/login', { body: { username: 'writer', password: 'writer-password' } })
    expect(login.statusCode).toBe(200)
    const { token, user } = login.json<{ token: string; user: string }>()
    expect(user).toBe('writer')
    expect(token.split('.')).toHaveLength(3)
    const put = await call(t.node.app, 'PUT', '/generic/priv/by-session.txt', { auth: bearer(token), body: 'jwt' })
    expect(put.statusCode).toBe(201)
    expect(t.node.store.artifacts.get('priv', 'by-session.txt')?.createdBy).toBe('writer')
    expect((await call(t.node.app, 'GET', '/generic/priv/seed.txt', { auth: bearer(`${token}x`) })).statusCode).toBe(401)
  })

  it('refuses a wrong password with 401, by Basic auth and by login', async () => {
    const r = await call(t.node.app, 'GET', '/generic/pub/seed.txt', { auth: basic('reader', 'not-the-password'), remoteAddress: '10.9.9.1' })
    expect(r.statusCode).toBe(401)
    const login = await call(t.node.app, 'POST', '/api/v1/auth/login', {
      body: { username: 'reader', password: 'nope-nope' },
      remoteAddress: '10.9.9.2',
    })
    expect(login.statusCode).toBe(401)
    expect(login.json()).toMatchObject({ error: 'AK_UNAUTHORIZED' })
    const unknown = await call(t.node.app, 'GET', '/api/v1/auth/whoami', { auth: basic('nobody', 'whatever1'), remoteAddress: '10.9.9.3' })
    expect(unknown.statusCode).toBe(401)
  })

  it('refuses an unknown scheme and malformed Basic credentials with 401', async () => {
    expect((await call(t.node.app, 'GET', '/generic/pub/seed.txt', { auth: 'Digest abc' })).statusCode).toBe(401)
    expect((await call(t.node.app, 'GET', '/generic/pub/seed.txt', { auth: `Basic ${Buffer.from('nocolon').toString('base64')}` })).statusCode).toBe(401)
  })
})
