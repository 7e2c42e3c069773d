// Hole (issue 11, part 5): failed logins from one address answered 429 to every user at that
// address, even with a valid password, and anyone could lock any user name by failing its password.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'

const VICTIM = 'victim'
const VICTIM_PASSWORD = 'victim-correct-password'
const WRONG = 'mallory-guess-XYZZY'
const MALLORY = '203.0.113.66'
const LIMITS = { AK_MAX_FAILED_LOGINS_PER_USER: '3', AK_MAX_FAILED_LOGINS_PER_ADDRESS: '5' }

const basic = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`

interface Answer {
  status: number
  retryAfter: number
  body: Record<string, unknown>
  ms: number
}

async function send(node: NodeProcess, method: string, path: string, init: { xff?: string; auth?: string; body?: unknown } = {}): Promise<Answer> {
  const started = Date.now()
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(init.xff ? { 'x-forwarded-for': init.xff } : {}),
      ...(init.auth ? { authorization: init.auth } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    signal: AbortSignal.timeout(20_000),
  })
  const text = await res.text()
  let body: Record<string, unknown> = {}
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    body = { text }
  }
  return { status: res.status, retryAfter: Number(res.headers.get('retry-after') ?? 0), body, ms: Date.now() - started }
}

const login = (node: NodeProcess, username: string, password: string, xff?: string) =>
  send(node, 'POST', '/api/v1/auth/login', { body: { username, password }, ...(xff ? { xff } : {}) })

async function setUp(node: NodeProcess): Promise<{ token: string }> {
  for (const name of [VICTIM, 'carol']) {
    const r = await send(node, 'POST', '/api/v1/users', { auth: node.adminAuth, body: { name, password: `${name === VICTIM ? VICTIM_PASSWORD : 'carol-password'}` } })
    expect(r.status).toBe(201)
  }
  const repo = await send(node, 'POST', '/api/v1/repositories', { auth: node.adminAuth, body: { key: 'npm-local', format: 'npm' } })
  expect(repo.status).toBe(201)
  const token = await send(node, 'POST', '/api/v1/tokens', { auth: basic(VICTIM, VICTIM_PASSWORD), body: { name: 'ci' } })
  expect(token.status).toBe(201)
  return { token: token.body.token as string }
}

async function metric(node: NodeProcess, reason: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const m = new RegExp(`^ak_auth_failures_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text)
  return Number(m?.[1] ?? 0)
}

/**
 * One more checked failure of the victim's password from `xff` (retried while the pair is refused),
 * so that what follows at once meets a fresh back-off however slow the machine is.
 */
async function failOnce(node: NodeProcess, xff: string): Promise<void> {
  const deadline = Date.now() + 30_000
  while ((await login(node, VICTIM, WRONG, xff)).status !== 401) {
    if (Date.now() > deadline) throw new Error('the pair stayed refused for 30 s')
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Mallory fails the victim's password `times` times from `xff`; returns how many were checked (401) and refused unchecked (429). */
async function storm(node: NodeProcess, times: number, xff?: string): Promise<{ checked: number; throttled: number }> {
  let checked = 0
  let throttled = 0
  for (let i = 0; i < times; i++) {
    const r = await login(node, VICTIM, WRONG, xff)
    expect([401, 429]).toContain(r.status)
    if (r.status === 401) checked++
    else throttled++
  }
  return { checked, throttled }
}

describe('login throttling behind a trusted proxy (AK_TRUSTED_PROXIES=127.0.0.1)', () => {
  let node: NodeProcess
  let token: string
  let session: string
  let stormed: { checked: number; throttled: number }
  /** Wrong passwords of existing users that were checked (401) besides the storm from MALLORY. */
  let otherChecked = 0

  beforeAll(async () => {
    node = await startNodeProcess({ env: { ...LIMITS, AK_TRUSTED_PROXIES: '127.0.0.1' } })
    ;({ token } = await setUp(node))
    // The storm: one address, many wrong passwords for the victim; and from several others, so
    // the name itself has many failures across addresses.
    stormed = await storm(node, 25, MALLORY)
    for (let i = 1; i <= 3; i++) otherChecked += (await storm(node, 2, `203.0.113.${100 + i}`)).checked
  }, 120_000)
  afterAll(async () => {
    await node?.stop()
  })

  it("the attacker's pair backs off: its attempts are refused unchecked (429 with Retry-After), even a correct password", async () => {
    expect(stormed.checked).toBeGreaterThanOrEqual(3)
    expect(stormed.throttled).toBeGreaterThan(15)
    await failOnce(node, MALLORY)
    const r = await login(node, VICTIM, VICTIM_PASSWORD, MALLORY)
    expect(r.status).toBe(429)
    expect(r.body).toMatchObject({ error: 'AK_TOO_MANY_ATTEMPTS' })
    expect(r.retryAfter).toBeGreaterThan(0)
  })

  it('the victim logs in with the correct password from another address at once', async () => {
    const r = await login(node, VICTIM, VICTIM_PASSWORD, '198.51.100.7')
    expect(r.status).toBe(200)
    // No back-off and no hold: just the password check (scrypt), slow only on a busy machine.
    expect(r.ms).toBeLessThan(5_000)
    session = r.body.token as string
    expect(session).toBeTruthy()
    // Basic auth and npm adduser (FormatContext.login) follow the same rule.
    expect((await send(node, 'GET', '/api/v1/auth/whoami', { auth: basic(VICTIM, VICTIM_PASSWORD), xff: '198.51.100.9' })).status).toBe(200)
    const npm = (xff: string) =>
      send(node, 'PUT', `/npm/npm-local/-/user/org.couchdb.user:${VICTIM}`, { body: { name: VICTIM, password: VICTIM_PASSWORD }, xff })
    expect((await npm('198.51.100.10')).status).toBe(201)
    await failOnce(node, MALLORY)
    const refused = await npm(MALLORY)
    expect(refused.status).toBe(429)
    expect(refused.retryAfter).toBeGreaterThan(0)
  })

  it("the victim's correct password from an address whose failures were for other users succeeds", async () => {
    const shared = '192.0.2.10'
    for (const name of ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'carol']) expect((await login(node, name, WRONG, shared)).status).toBe(401)
    const r = await login(node, VICTIM, VICTIM_PASSWORD, shared)
    expect(r.status).toBe(200)
    // Held at most LOGIN_ADDRESS_MAX_HOLD (2 s) while the address is over its limit: slowed, not refused.
    expect(r.ms).toBeLessThan(5_000)
  })

  it('an API token and a session JWT work from the stormed address during the storm', async () => {
    const during = storm(node, 10, MALLORY)
    for (const auth of [`Bearer ${token}`, basic(VICTIM, token), basic('__token__', token), `Bearer ${session}`]) {
      const r = await send(node, 'GET', '/api/v1/auth/whoami', { auth, xff: MALLORY })
      expect(r.status, auth.slice(0, 12)).toBe(200)
      expect(r.body).toMatchObject({ user: VICTIM })
    }
    await during
  })

  it("the name's back-off across addresses is bounded: after its own typo the victim gets in within a few seconds", async () => {
    const home = '198.51.100.200'
    expect((await login(node, VICTIM, 'a typo', home)).status).toBe(401)
    const first = await login(node, VICTIM, VICTIM_PASSWORD, home)
    expect(first.status).toBe(429)
    expect(first.retryAfter).toBeGreaterThan(0)
    expect(first.retryAfter).toBeLessThanOrEqual(5)
    const started = Date.now()
    let status = first.status
    while (status !== 200 && Date.now() - started < 10_000) {
      await new Promise((r) => setTimeout(r, 250))
      status = (await login(node, VICTIM, VICTIM_PASSWORD, home)).status
    }
    expect(status).toBe(200)
    expect(Date.now() - started).toBeLessThan(6_000)
  })

  it('counts each failure in ak_auth_failures_total{reason} and logs user and address, never the password', async () => {
    // The storms, carol's failure at the shared address and the victim's own typo.
    expect(await metric(node, 'password')).toBeGreaterThanOrEqual(stormed.checked + otherChecked + 1 + 1)
    expect(await metric(node, 'unknown_user')).toBeGreaterThanOrEqual(6)
    expect(await metric(node, 'throttled')).toBeGreaterThanOrEqual(stormed.throttled)
    const logged = node.output()
    expect(logged).toMatch(new RegExp(`"authFailure":"password","user":"${VICTIM}","address":"${MALLORY.replaceAll('.', '\\.')}"`))
    expect(logged).not.toContain(WRONG)
    expect(logged).not.toContain(VICTIM_PASSWORD)
  })
})

describe('login throttling without trusted proxies (the default)', () => {
  let node: NodeProcess

  beforeAll(async () => {
    node = await startNodeProcess({ env: LIMITS })
    await setUp(node)
  }, 60_000)
  afterAll(async () => {
    await node?.stop()
  })

  it('X-Forwarded-For from an untrusted peer is ignored: a new forged address does not escape the back-off', async () => {
    const { checked } = await storm(node, 3, '198.51.100.1')
    expect(checked).toBe(3)
    const r = await login(node, VICTIM, VICTIM_PASSWORD, '198.51.100.2')
    expect(r.status).toBe(429)
    expect(node.output()).toMatch(/"authFailure":"password","user":"victim","address":"(127\.0\.0\.1|::ffff:127\.0\.0\.1)"/)
  })

  it('another user at the same address, over its limit, still logs in with the correct password', async () => {
    for (const name of ['u1', 'u2', 'u3']) expect((await login(node, name, WRONG)).status).toBe(401)
    const r = await login(node, 'carol', 'carol-password', '198.51.100.3')
    expect(r.status).toBe(200)
  })
})
