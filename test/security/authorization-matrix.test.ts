// Pins that no route answers a role it should refuse: every route the node registers is called
// over real HTTP by six roles (anonymous, a token of another repository, a read-only token, a
// write token, a repository admin, a node admin) and checked against matrix/expected.ts, and a
// route added without a row there fails the suite instead of shipping unchecked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeRoute } from '../../node/index.ts'
import { MATRIX, ROLES, type Expected, type MatrixCase, type Role } from './matrix/expected.ts'
import { startMatrixFixture, type MatrixFixture } from './matrix/fixture.ts'

/** Requests in flight at once: enough to keep the run short, few enough for a 2-core machine. */
const PARALLEL = 12

let fixture: MatrixFixture

beforeAll(async () => {
  fixture = await startMatrixFixture()
}, 60_000)

afterAll(async () => {
  await fixture?.close()
})

const keyOf = (r: NodeRoute) => `${r.method} ${r.url}`

/** The row of a route; a HEAD route fastify derived from a GET route shares the GET row. */
function rowOf(route: NodeRoute): readonly MatrixCase[] | undefined {
  return MATRIX[keyOf(route)] ?? (route.method === 'HEAD' ? MATRIX[`GET ${route.url}`] : undefined)
}

function routes(): NodeRoute[] {
  const seen = new Set<string>()
  return fixture.node.node.routes().filter((r) => !seen.has(keyOf(r)) && seen.add(keyOf(r)))
}

interface Outcome {
  method: string
  url: string
  role: Role
  expected: Expected
  status: number
  challenge: string | null
}

async function send(method: string, c: MatrixCase, role: Role): Promise<Outcome> {
  const url = fixture.fill(c.url, role)
  const headers: Record<string, string> = {}
  const auth = fixture.auth[role]
  if (auth) headers.authorization = auth
  if (c.contentType) headers['content-type'] = c.contentType
  const res = await fetch(`${fixture.node.url}${url}`, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' ? undefined : fixture.fill(c.body ?? '', role),
    redirect: 'manual',
    signal: AbortSignal.timeout(15_000),
  })
  await res.arrayBuffer()
  return { method, url, role, expected: c.expect[role], status: res.status, challenge: res.headers.get('www-authenticate') }
}

/** Why an outcome is wrong, or undefined when it is the expected answer. */
function problem(o: Outcome, c: MatrixCase): string | undefined {
  const denied = o.status === 401 || o.status === 403
  const want = (() => {
    switch (o.expected) {
      case 'allow':
        if (denied) return 'allowed (not 401/403)'
        if (c.exists && o.status >= 400) return 'allowed with a 2xx/3xx (the fixture exists)'
        return undefined
      case 'deny':
        if (o.role === 'anonymous') {
          if (o.status !== 401) return 'denied with 401'
          if (!o.challenge) return 'denied with 401 and a WWW-Authenticate challenge'
          return undefined
        }
        return o.status === 403 ? undefined : 'denied with 403'
      case 'peer':
        return denied ? undefined : 'denied with 401/403 (mesh peers only)'
      case 'refused':
        return o.status >= 400 ? undefined : 'refused (4xx/5xx) for everyone'
    }
  })()
  return want && `${o.method} ${o.url} as ${o.role}: expected ${want}, got ${o.status}`
}

/** Runs `jobs` with at most PARALLEL in flight (a slow one holds one slot, not a whole batch). */
async function pooled<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = []
  let next = 0
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++
      out[i] = await (jobs[i] as () => Promise<T>)()
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker))
  return out
}

/** Every case of the given phase on every route × every role; the problems found. */
async function check(phase: 0 | 1 | 2): Promise<string[]> {
  const jobs = routes().flatMap((route) =>
    (rowOf(route) ?? [])
      .filter((c) => (c.phase ?? 0) === phase)
      .flatMap((c) => ROLES.map((role) => async () => problem(await send(route.method, c, role), c))),
  )
  return (await pooled(jobs)).filter((p): p is string => p !== undefined)
}

describe('authorisation matrix', () => {
  it('has expected answers for every route the node registers, and no row for a route it lacks', () => {
    const all = routes()
    const missing = all.filter((r) => !rowOf(r)).map((r) => `route ${keyOf(r)} has no expected answers in the matrix: add a row to test/security/matrix/expected.ts`)
    const registered = new Set(all.map(keyOf))
    const stale = Object.keys(MATRIX)
      .filter((k) => !registered.has(k))
      .map((k) => `the matrix has a row for ${k}, which the node does not register: remove or rename it`)
    expect([...missing, ...stale]).toEqual([])
    expect(all.length).toBeGreaterThan(100)
  })

  it('answers every role as the matrix says, on every route', async () => {
    const problems: string[] = []
    for (const phase of [0, 1, 2] as const) problems.push(...(await check(phase)))
    expect(problems).toEqual([])
  }, 120_000)
})
