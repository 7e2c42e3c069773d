import { ADMIN_PASSWORD, type NodeProcess } from '../../helpers/node-process.ts'

export function basicAuth(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`
}

/** Calls the management API as admin; throws on a non-2xx answer. */
export async function api(node: NodeProcess, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${node.url}/api/v1${path}`, {
    method,
    headers: { authorization: node.adminAuth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text ? (JSON.parse(text) as Record<string, unknown>) : {}
}

export async function createRepo(node: NodeProcess, key: string, extra: Record<string, unknown> = {}): Promise<void> {
  await api(node, 'POST', '/repositories', { key, format: 'pypi', type: 'local', ...extra })
}

/** An akt_ API token of the admin user, as twine's __token__ password. */
export async function adminToken(node: NodeProcess): Promise<string> {
  const created = await api(node, 'POST', '/tokens', { name: 'pypi-tests' })
  return created.token as string
}

export { ADMIN_PASSWORD }
