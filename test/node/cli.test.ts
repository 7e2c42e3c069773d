import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNode, loadConfig, type RegistryNode } from '../../node/index.ts'
import { runAk, tempDir } from '../helpers/node-process.ts'
import { basic } from '../helpers/test-node.ts'
import { call } from './fixtures.ts'

let dataDir: string
beforeAll(() => {
  dataDir = tempDir('ak-cli-')
})
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

/** Runs `ak -d <dataDir> …args`. */
const ak = (...args: string[]) => runAk(['-d', dataDir, ...args], { AK_LOG_LEVEL: 'silent' })

/** An in-process node on the CLI's data directory, for checking what the CLI did. */
async function withNode<T>(fn: (node: RegistryNode) => Promise<T>): Promise<T> {
  const config = loadConfig({ env: { AK_ADMIN_PASSWORD: 'cli-admin-password' }, flags: { dataDir, logLevel: 'silent', 'http.port': 0 } })
  const node = await createNode(config, { logger: false })
  try {
    return await fn(node)
  } finally {
    await node.close()
  }
}

describe('ak CLI', () => {
  it('prints help for itself and every subcommand, exiting 0', async () => {
    const commands = [[], ['serve'], ['user'], ['user', 'add'], ['token'], ['token', 'create'], ['repo'], ['repo', 'create'], ['fsck'], ['gc']]
    const results = await Promise.all(commands.map((c) => runAk([...c, '--help'])))
    results.forEach((r, i) => {
      const name = ['ak', ...(commands[i] as string[])].join(' ')
      expect(r.code, `${name} --help: ${r.stderr}`).toBe(0)
      expect(r.stdout, name).toMatch(/^Usage: ak/m)
    })
    expect(results[0]?.stdout).toMatch(/serve[\s\S]*user[\s\S]*token[\s\S]*repo[\s\S]*fsck[\s\S]*gc/)
    expect(results[1]?.stdout).toContain('--port')
    expect(results[5]?.stdout).toContain('--access')
    expect(results[9]?.stdout).toContain('--grace')
  })

  it('refuses an unknown command and a bad option value with a non-zero exit', async () => {
    const [unknown, badDuration] = await Promise.all([runAk(['frobnicate']), ak('gc', '--grace', 'soon')])
    expect(unknown.code).not.toBe(0)
    expect(badDuration.code).not.toBe(0)
    expect(badDuration.stderr).toMatch(/duration/)
  })

  it('adds a user and creates a token that authenticates against a node on the same data dir', async () => {
    const add = await ak('user', 'add', 'bob', '--password', 'bob-password-1')
    expect(add.code, add.stderr).toBe(0)
    expect(add.stdout).toContain('created user bob')
    const created = await ak('token', 'create', '-u', 'bob', '-n', 'ci', '-a', 'read')
    expect(created.code, created.stderr).toBe(0)
    const token = created.stdout.trim()
    expect(token).toMatch(/^akt_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
    const asJson = await ak('token', 'create', '-u', 'bob', '--json', '--expires-in', '30d')
    const shown = JSON.parse(asJson.stdout) as { token: string; user: string; expiresAt: number; secretHash?: string }
    expect(shown.user).toBe('bob')
    expect(shown.secretHash).toBeUndefined()
    expect(shown.expiresAt).toBeGreaterThan(Date.now() + 29 * 86_400_000)
    const missing = await ak('token', 'create', '-u', 'nobody')
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain('nobody')

    await withNode(async (node) => {
      for (const auth of [`Bearer ${token}`, basic('bob', token), basic('bob', 'bob-password-1')]) {
        const who = await call(node.app, 'GET', '/api/v1/auth/whoami', { auth })
        expect(who.statusCode).toBe(200)
        expect(who.json()).toMatchObject({ user: 'bob' })
      }
      const who = await call(node.app, 'GET', '/api/v1/auth/whoami', { auth: `Bearer ${token}` })
      expect(who.json()).toMatchObject({ via: 'token', token: { access: 'read' } })
    })
    const list = await ak('token', 'list', '--json')
    expect(list.stdout).not.toContain(token.split('_')[2] as string)
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(2)
  })

  it('creates, lists and deletes repositories; fsck and gc report as JSON', async () => {
    const create = await ak('repo', 'create', 'files', '-f', 'generic', '--public')
    expect(create.code, create.stderr).toBe(0)
    const dup = await ak('repo', 'create', 'files', '-f', 'generic')
    expect(dup.code).not.toBe(0)
    expect(dup.stderr).toContain('already exists')
    const badFormat = await ak('repo', 'create', 'other', '-f', 'no-such-format')
    expect(badFormat.code).not.toBe(0)
    const list = await ak('repo', 'list', '--json')
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ key: 'files', format: 'generic', public: true, artifacts: 0 })])

    let sha256 = ''
    await withNode(async (node) => {
      const put = await call(node.app, 'PUT', '/generic/files/a.txt', { auth: basic('admin', 'cli-admin-password'), body: 'cli bytes' })
      expect(put.statusCode).toBe(201)
      sha256 = put.json<{ checksums: { sha256: string } }>().checksums.sha256
    })

    const clean = await ak('fsck', '--json')
    expect(clean.code, clean.stderr).toBe(0)
    expect(JSON.parse(clean.stdout)).toMatchObject({ blobsChecked: 1, artifactsChecked: 1, bytesVerified: 9, problems: [] })

    const blobPath = join(dataDir, 'blobs', 'sha256', sha256.slice(0, 2), sha256)
    writeFileSync(blobPath, readFileSync(blobPath).reverse())
    const corrupt = await ak('fsck', '--json')
    expect(corrupt.code).toBe(1)
    expect(JSON.parse(corrupt.stdout).problems).toEqual([expect.objectContaining({ kind: 'blob-corrupt', sha256 })])
    writeFileSync(blobPath, readFileSync(blobPath).reverse())

    const del = await ak('repo', 'delete', 'files', '--yes')
    expect(del.code, del.stderr).toBe(0)
    expect(del.stdout).toContain('1 artifacts')
    expect(JSON.parse((await ak('repo', 'list', '--json')).stdout)).toEqual([])

    const kept = await ak('gc', '--json')
    expect(JSON.parse(kept.stdout)).toMatchObject({ blobsDeleted: 0, dryRun: false })
    const dry = await ak('gc', '--json', '--grace', '0ms', '--dry-run')
    expect(JSON.parse(dry.stdout)).toMatchObject({ blobsDeleted: 1, bytesFreed: 9, dryRun: true })
    const collected = await ak('gc', '--json', '--grace', '0ms')
    expect(collected.code, collected.stderr).toBe(0)
    expect(JSON.parse(collected.stdout)).toMatchObject({ blobsDeleted: 1, bytesFreed: 9, dryRun: false })
    expect(JSON.parse((await ak('fsck', '--json')).stdout)).toMatchObject({ blobsChecked: 0, problems: [], orphanObjects: 0 })
  })
})
