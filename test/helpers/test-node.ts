import { rmSync } from 'node:fs'
import { createNode, loadConfig, type Config, type RegistryNode } from '../../node/index.ts'
import { tempDir } from './node-process.ts'

export const TEST_ADMIN_PASSWORD = 'admin-test-password'
export const ADMIN_BASIC = `Basic ${Buffer.from(`admin:${TEST_ADMIN_PASSWORD}`).toString('base64')}`

export function basic(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`
}

export interface TestNode {
  node: RegistryNode
  /** Set when started with listen: true. */
  url: string
  dataDir: string
  close(): Promise<void>
}

/**
 * An in-process node on a fresh temp data dir, for route tests with app.inject() (and a real
 * listen() where socket behaviour matters). Config paths may be overridden ('gc.graceMs' → 0).
 */
export async function startTestNode(options: { listen?: boolean; flags?: Record<string, unknown>; env?: Record<string, string> } = {}): Promise<TestNode> {
  const dataDir = tempDir()
  const config: Config = loadConfig({
    env: { AK_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, ...options.env },
    flags: { dataDir, 'http.host': '127.0.0.1', 'http.port': 0, logLevel: 'silent', ...options.flags },
  })
  const node = await createNode(config, { logger: false })
  const url = options.listen ? await node.listen() : ''
  return {
    node,
    url,
    dataDir,
    async close() {
      await node.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
