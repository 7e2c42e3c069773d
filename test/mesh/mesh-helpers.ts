import { startNodeProcess, tempDir, runAk, type NodeProcess } from '../helpers/node-process.ts'

export interface MeshStatusBody {
  enabled: boolean
  peerId: string
  addresses: string[]
  connected: { peerId: string; addresses: string[] }[]
}

/** Starts a node with the mesh on (loopback, any port) and the given mesh settings. */
export async function startMeshNode(env: Record<string, string> = {}, dataDir?: string): Promise<NodeProcess> {
  return startNodeProcess({ dataDir, env: { AK_MESH_ENABLED: 'true', AK_MESH_PORT: '0', AK_LOG_LEVEL: 'info', ...env } })
}

export async function api<T = unknown>(node: NodeProcess, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${node.url}${path}`, {
    ...init,
    headers: { authorization: node.adminAuth, ...(init.body && typeof init.body === 'string' ? { 'content-type': 'application/json' } : {}), ...init.headers },
    signal: AbortSignal.timeout(10_000),
  }).catch((err: unknown) => {
    // A node that stopped answering (seen once under load in the partition test): say whether it
    // is still alive and what it printed last, so the failure can be read from CI's log.
    const tail = node.output().split('\n').slice(-15).join('\n')
    throw new Error(`${path} on ${node.url} failed (${(err as Error).message}; exit code ${node.child.exitCode}, signal ${node.child.signalCode}):\n${tail}`, { cause: err })
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as T }
}

export async function meshStatus(node: NodeProcess): Promise<MeshStatusBody> {
  const r = await api<MeshStatusBody>(node, '/api/v1/mesh/status')
  if (r.status !== 200) throw new Error(`mesh status answered ${r.status}: ${JSON.stringify(r.body)}`)
  return r.body
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** A fresh data dir and its peer ID (so a node can be put on, or left off, an allowlist before it starts). */
export async function preparedIdentity(): Promise<{ dataDir: string; peerId: string }> {
  const dataDir = tempDir('ak-mesh-')
  const r = await runAk(['--data-dir', dataDir, 'mesh', 'id'])
  if (r.code !== 0) throw new Error(`ak mesh id failed: ${r.stderr}`)
  return { dataDir, peerId: r.stdout.trim() }
}

export async function newMeshKey(): Promise<string> {
  const r = await runAk(['mesh', 'keygen'])
  if (r.code !== 0) throw new Error(`ak mesh keygen failed: ${r.stderr}`)
  return r.stdout.trim()
}

export const connectedTo = (s: MeshStatusBody, peerId: string): boolean => s.connected.some((p) => p.peerId === peerId)

export async function runAkMeshId(dataDir: string): Promise<string> {
  const r = await runAk(['--data-dir', dataDir, 'mesh', 'id'])
  if (r.code !== 0) throw new Error(`ak mesh id failed: ${r.stderr}`)
  return r.stdout.trim()
}
