import { ADMIN_PASSWORD, type NodeProcess } from '../../helpers/node-process.ts'

export { ADMIN_PASSWORD }

/** A JSON request to the node's management API as admin. */
export async function api(node: NodeProcess, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${node.url}/api/v1${path}`, {
    method,
    headers: { authorization: node.adminAuth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  })
}

/** Creates a go repository (local, or virtual over `members`); fails the test unless created. */
export async function createGoRepo(
  node: NodeProcess,
  key: string,
  options: { type?: 'local' | 'virtual'; members?: string[]; defaultDeployRepo?: string; public?: boolean; settings?: Record<string, unknown> } = {},
): Promise<void> {
  const settings: Record<string, unknown> = { ...options.settings }
  if (options.members) settings.members = options.members
  if (options.defaultDeployRepo) settings.defaultDeployRepo = options.defaultDeployRepo
  const res = await api(node, 'POST', '/repositories', {
    key,
    format: 'go',
    type: options.type ?? 'local',
    public: options.public ?? false,
    settings,
  })
  if (res.status !== 201) throw new Error(`creating repository ${key}: ${res.status} ${await res.text()}`)
}

/** Case-encodes a module path or version for a GOPROXY URL. */
export function enc(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`)
}

/** Uploads a module zip: PUT /go/{repo}/{module}/@v/{version}.zip. */
export function uploadModule(
  node: NodeProcess,
  repo: string,
  module: string,
  version: string,
  zip: Buffer,
  auth: string | null = node.adminAuth,
): Promise<Response> {
  return fetch(`${node.url}/go/${repo}/${enc(module)}/@v/${enc(version)}.zip`, {
    method: 'PUT',
    headers: { 'content-type': 'application/zip', ...(auth ? { authorization: auth } : {}) },
    body: zip,
  })
}

/** GET a GOPROXY path below /go/{repo}/ as admin. */
export function proxyGet(node: NodeProcess, repo: string, path: string, auth: string | null = node.adminAuth): Promise<Response> {
  return fetch(`${node.url}/go/${repo}/${path}`, { headers: auth ? { authorization: auth } : {} })
}
