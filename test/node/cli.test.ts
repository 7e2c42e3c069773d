import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Command } from 'commander'
import { buildCli, createNode, loadConfig, type RegistryNode } from '../../node/index.ts'
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

/**
 * Runs one `ak` command line in this process through the same commander program, capturing
 * what it prints. For the cheap checks; the real `ak` process is exercised by runAk above.
 */
async function inProcess(...args: string[]): Promise<{ failed: boolean; stdout: string; error: string }> {
  const program = buildCli()
  let error = ''
  const quiet = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ writeErr: (s) => void (error += s), writeOut: () => {} })
    cmd.commands.forEach(quiet)
  }
  quiet(program)
  let stdout = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()
    return true
  }) as typeof process.stdout.write
  try {
    await program.parseAsync(['node', 'ak', '-d', dataDir, ...args])
    return { failed: false, stdout, error }
  } catch (err) {
    return { failed: true, stdout, error: `${error}${(err as Error).message}` }
  } finally {
    process.stdout.write = write
  }
}

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
    // One process each (tsx start-up is the cost): the root and the six subcommands.
    const commands = [[], ['serve'], ['user'], ['token'], ['repo'], ['fsck'], ['gc']]
    const results = await Promise.all(commands.map((c) => runAk([...c, '--help'])))
    results.forEach((r, i) => {
      const name = ['ak', ...(commands[i] as string[])].join(' ')
      expect(r.code, `${name} --help: ${r.stderr}`).toBe(0)
      expect(r.stdout, name).toMatch(/^Usage: ak/m)
    })
    expect(results[0]?.stdout).toMatch(/serve[\s\S]*user[\s\S]*token[\s\S]*repo[\s\S]*fsck[\s\S]*gc/)
    expect(results[1]?.stdout).toContain('--port')
    expect(results[2]?.stdout).toMatch(/add[\s\S]*list[\s\S]*passwd/)
    expect(results[3]?.stdout).toMatch(/create[\s\S]*list[\s\S]*revoke/)
    expect(results[5]?.stdout).toContain('--repair')
    expect(results[6]?.stdout).toContain('--grace')
  })

  it('refuses an unknown command, a bad option value, a token for a missing user and a duplicate repository', async () => {
    // In-process (buildCli) to spare process start-ups; the same commander program `ak` runs.
    expect(await inProcess('frobnicate')).toMatchObject({ failed: true })
    expect(await inProcess('gc', '--grace', 'soon')).toMatchObject({ failed: true, error: expect.stringMatching(/duration/) })
    expect(await inProcess('token', 'create', '-u', 'nobody')).toMatchObject({ failed: true, error: expect.stringContaining('nobody') })
    expect(await inProcess('repo', 'create', 'twice', '-f', 'generic')).toMatchObject({ failed: false })
    expect(await inProcess('repo', 'create', 'twice', '-f', 'generic')).toMatchObject({ failed: true, error: expect.stringContaining('already exists') })
    expect(await inProcess('repo', 'create', 'other', '-f', 'no-such-format')).toMatchObject({ failed: true, error: expect.stringContaining('no-such-format') })
    expect(await inProcess('repo', 'delete', 'twice')).toMatchObject({ failed: true }) // --yes is required
    expect((await inProcess('repo', 'delete', 'twice', '--yes')).failed).toBe(false)
  })

  it('adds a user and creates a token that authenticates against a node on the same data dir', async () => {
    const add = await ak('user', 'add', 'bob', '--password', 'bob-password-1')
    expect(add.code, add.stderr).toBe(0)
    expect(add.stdout).toContain('created user bob')
    const created = await ak('token', 'create', '-u', 'bob', '-n', 'ci', '-a', 'read')
    expect(created.code, created.stderr).toBe(0)
    const token = created.stdout.trim()
    expect(token).toMatch(/^akt_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
    const asJson = await inProcess('token', 'create', '-u', 'bob', '--json', '--expires-in', '30d')
    const shown = JSON.parse(asJson.stdout) as { token: string; user: string; expiresAt: number; secretHash?: string }
    expect(shown.user).toBe('bob')
    expect(shown.secretHash).toBeUndefined()
    expect(shown.expiresAt).toBeGreaterThan(Date.now() + 29 * 86_400_000)

    await withNode(async (node) => {
      for (const auth of [`Bearer ${token}`, basic('bob', token), basic('bob', 'bob-password-1')]) {
        const who = await call(node.app, 'GET', '/api/v1/auth/whoami', { auth })
        expect(who.statusCode).toBe(200)
        expect(who.json()).toMatchObject({ user: 'bob' })
      }
      const who = await call(node.app, 'GET', '/api/v1/auth/whoami', { auth: `Bearer ${token}` })
      expect(who.json()).toMatchObject({ via: 'token', token: { access: 'read' } })
    })
    const list = await inProcess('token', 'list', '--json')
    expect(list.stdout).not.toContain(token.split('_')[2] as string)
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(2)
  })

  it('creates, lists and deletes repositories; fsck and gc report as JSON', async () => {
    expect((await inProcess('user', 'add', 'root', '--admin', '--password', 'root-password')).failed).toBe(false)
    const create = await ak('repo', 'create', 'files', '-f', 'generic', '--public')
    expect(create.code, create.stderr).toBe(0)
    const list = await ak('repo', 'list', '--json')
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ key: 'files', format: 'generic', public: true, artifacts: 0 })])

    await withNode(async (node) => {
      const put = await call(node.app, 'PUT', '/generic/files/a.txt', { auth: basic('root', 'root-password'), body: 'cli bytes' })
      expect(put.statusCode).toBe(201)
    })

    const clean = await ak('fsck', '--json')
    expect(clean.code, clean.stderr).toBe(0)
    expect(JSON.parse(clean.stdout)).toMatchObject({ blobsChecked: 1, artifactsChecked: 1, bytesVerified: 9, problems: [] })

    const del = await ak('repo', 'delete', 'files', '--yes')
    expect(del.code, del.stderr).toBe(0)
    expect(del.stdout).toContain('1 artifacts')
    expect(JSON.parse((await inProcess('repo', 'list', '--json')).stdout)).toEqual([])

    const kept = await inProcess('gc', '--json')
    expect(JSON.parse(kept.stdout)).toMatchObject({ blobsDeleted: 0, dryRun: false })
    const collected = await ak('gc', '--json', '--grace', '0ms')
    expect(collected.code, collected.stderr).toBe(0)
    expect(JSON.parse(collected.stdout)).toMatchObject({ blobsDeleted: 1, bytesFreed: 9, dryRun: false })
    expect(JSON.parse((await inProcess('fsck', '--json')).stdout)).toMatchObject({ blobsChecked: 0, problems: [], orphanObjects: 0 })
  })
})

// The CLI could create local and virtual repositories only: remote ones needed the API.
describe('ak repo create for remote and virtual repositories', () => {
  it('creates a remote repository with --upstream, its password from AK_UPSTREAM_PASSWORD, never printed', async () => {
    process.env.AK_UPSTREAM_PASSWORD = 'upstream-secret-pw'
    try {
      const r = await inProcess('repo', 'create', 'npm-proxy', '-f', 'npm', '--upstream', 'https://registry.example.test/', '--upstream-user', 'bot')
      expect(r.failed, r.error).toBe(false)
      expect(r.stdout).toContain('created remote npm repository npm-proxy')
    } finally {
      delete process.env.AK_UPSTREAM_PASSWORD
    }
    const shownRepo = await inProcess('repo', 'get', 'npm-proxy')
    expect(shownRepo.stdout).toContain('"type": "remote"')
    expect(shownRepo.stdout).toContain('https://registry.example.test/')
    expect(shownRepo.stdout).not.toContain('upstream-secret-pw')
  })

  it('refuses an upstream in the link-local range, and --upstream on a local repository', async () => {
    const bad = await inProcess('repo', 'create', 'meta', '-f', 'generic', '--upstream', 'http://169.254.169.254/latest/')
    expect(bad.failed).toBe(true)
    expect(bad.error).toMatch(/refused/)
    const mixed = await inProcess('repo', 'create', 'x', '-f', 'generic', '-t', 'local', '--upstream', 'https://example.test/')
    expect(mixed.failed).toBe(true)
  })

  it('creates a virtual repository from --members (type implied) with a deploy member', async () => {
    expect((await inProcess('repo', 'create', 'gen-a', '-f', 'generic')).failed).toBe(false)
    const r = await inProcess('repo', 'create', 'gen-all', '-f', 'generic', '--members', 'gen-a', '--deploy-to', 'gen-a')
    expect(r.failed, r.error).toBe(false)
    expect(r.stdout).toContain('created virtual generic repository gen-all')
  })
})
