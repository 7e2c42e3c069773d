import { Command, InvalidArgumentError, Option } from 'commander'
import { createInterface } from 'node:readline'
import { AkError, maskedSettings, type Repository, type Store } from '../store/index.ts'
import { loadConfig, ConfigError, type Config } from './config.ts'
import { openDataDir } from './open.ts'
import { hashPassword } from './auth/passwords.ts'
import { generateToken } from './auth/tokens.ts'
import { USER_NAME } from './api/users.ts'
import { FORMAT_NAMES } from './format-names.ts'
import { mkdirSync } from 'node:fs'
import { ApiClientError } from './cli-client.ts'
import { addMeshPeersCommand } from './cli-mesh-peers.ts'
import { registerBundleCommands } from './cli-bundle.ts'
import { addTransfersCommand } from './cli-transfers.ts'

/** Parses durations like 90s, 15m, 12h, 30d (or plain milliseconds). */
export function parseDuration(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim())
  if (!m) throw new InvalidArgumentError(`'${value}' is not a duration (e.g. 90s, 15m, 12h, 30d)`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms']
  return Number(m[1]) * unit
}

interface GlobalOptions {
  config?: string
  dataDir?: string
}

function configFrom(cmd: Command, flags: Record<string, unknown> = {}): Config {
  const g = cmd.optsWithGlobals() as GlobalOptions
  return loadConfig({ file: g.config, flags: { dataDir: g.dataDir, ...flags } })
}

async function withStore<T>(cmd: Command, fn: (store: Store, config: Config) => Promise<T> | T): Promise<T> {
  const config = configFrom(cmd)
  const { store } = await openDataDir(config)
  try {
    return await fn(store, config)
  } finally {
    store.close()
  }
}

/** A repository as `ak` prints it: the upstream password masked (ak never prints a stored secret). */
function shown(r: Repository): Repository {
  return { ...r, settings: maskedSettings(r.settings) }
}

function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`)
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] as string).length)))
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] as number)).join('  ').trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')
}

async function readSecret(prompt: string, fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    let data = ''
    for await (const chunk of process.stdin) data += chunk
    return data.replace(/\r?\n$/, '')
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
  return new Promise((resolve) => rl.question(prompt, (answer) => (rl.close(), resolve(answer))))
}

export function buildCli(): Command {
  const program = new Command('ak')
    .description('Artifact Keeper: a universal artifact registry node')
    .option('-c, --config <file>', 'YAML configuration file (or AK_CONFIG)')
    .option('-d, --data-dir <dir>', 'data directory (or AK_DATA_DIR; default ./data)')
    .showHelpAfterError()

  program
    .command('serve')
    .description('run a registry node (what `npm start` does)')
    .option('--host <host>', 'HTTP listen address (or AK_HTTP_HOST; default 127.0.0.1)')
    .addOption(new Option('-p, --port <port>', 'HTTP port, 0 for any free one (or AK_HTTP_PORT; default 8080)'))
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (or AK_LOG_LEVEL)')
    .option('--storage-backend <backend>', 'fs or s3 (or AK_STORAGE_BACKEND)')
    .action(async (opts: { host?: string; port?: string; logLevel?: string; storageBackend?: string }, cmd: Command) => {
      const config = configFrom(cmd, {
        'http.host': opts.host,
        'http.port': opts.port,
        logLevel: opts.logLevel,
        'storage.backend': opts.storageBackend,
      })
      // Loaded here, not at the top: the server (fastify, every format, libp2p) costs a second
      // of start-up that the maintenance commands should not pay.
      const { createNode } = await import('./node.ts')
      const node = await createNode(config)
      const url = await node.listen()
      process.stderr.write(
        `\nArtifact Keeper node ${node.identity.peerId}\n  listening on ${url}\n  data in ${config.dataDir} (${node.store.blobs.driver.kind} blobs)\n` +
          `  log in: user 'admin', password from AK_ADMIN_PASSWORD or ${config.dataDir}/initial-admin-password on first start\n` +
          `  try:    curl -u admin:PASSWORD -X POST ${url}/api/v1/repositories -H 'content-type: application/json' -d '{"key":"files","format":"generic"}'\n\n`,
      )
      let stopping = false
      const stop = (signal: string) => {
        if (stopping) return
        stopping = true
        node.app.log.info({ signal }, 'shutting down')
        node.close().then(
          () => process.exit(0),
          (err: unknown) => {
            node.app.log.error({ err }, 'shutdown failed')
            process.exit(1)
          },
        )
      }
      process.on('SIGTERM', () => stop('SIGTERM'))
      process.on('SIGINT', () => stop('SIGINT'))
    })

  const user = program.command('user').description('manage users')
  user
    .command('add <name>')
    .description('create a user; the password is read from stdin or prompted')
    .option('--password <password>', 'the password (prefer stdin: it ends up in shell history)')
    .option('--admin', 'make the user a node admin', false)
    .option('--email <email>', 'e-mail address')
    .action(async (name: string, opts: { password?: string; admin: boolean; email?: string }, cmd: Command) => {
      if (!USER_NAME.test(name)) throw new InvalidArgumentError(`invalid user name '${name}'`)
      const password = opts.password ?? (await readSecret(`password for ${name}: `, false))
      if (password.length < 8) throw new InvalidArgumentError('the password needs at least 8 characters')
      await withStore(cmd, async (store) => {
        store.auth.createUser({ name, passwordHash: await hashPassword(password), admin: opts.admin, email: opts.email ?? null })
      })
      process.stdout.write(`created user ${name}${opts.admin ? ' (admin)' : ''}\n`)
    })
  user
    .command('list')
    .description('list users')
    .option('--json', 'print JSON', false)
    .action(async (opts: { json: boolean }, cmd: Command) => {
      const users = await withStore(cmd, (store) => store.auth.listUsers())
      print(opts.json, users, () => table(users.map((u) => ({ ...u, created: new Date(u.createdAt).toISOString() })), ['name', 'admin', 'disabled', 'email', 'created']))
    })
  user
    .command('passwd <name>')
    .description("set a user's password (read from stdin or prompted)")
    .option('--password <password>', 'the new password')
    .action(async (name: string, opts: { password?: string }, cmd: Command) => {
      const password = opts.password ?? (await readSecret(`new password for ${name}: `, false))
      if (password.length < 8) throw new InvalidArgumentError('the password needs at least 8 characters')
      await withStore(cmd, async (store) => void store.auth.updateUser(name, { passwordHash: await hashPassword(password) }))
      process.stdout.write(`password of ${name} changed\n`)
    })
  user
    .command('set <name>')
    .description('change admin or disabled flags')
    .option('--admin <bool>', 'true or false')
    .option('--disabled <bool>', 'true or false')
    .action(async (name: string, opts: { admin?: string; disabled?: string }, cmd: Command) => {
      const b = (v?: string) => (v === undefined ? undefined : v === 'true')
      await withStore(cmd, (store) => store.auth.updateUser(name, { admin: b(opts.admin), disabled: b(opts.disabled) }))
      process.stdout.write(`updated ${name}\n`)
    })
  user
    .command('delete <name>')
    .description('delete a user and its tokens')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withStore(cmd, (store) => store.auth.deleteUser(name))
      process.stdout.write(`deleted user ${name}\n`)
    })

  const token = program.command('token').description('manage API tokens')
  token
    .command('create')
    .description('create an API token; its secret is printed once')
    .requiredOption('-u, --user <name>', 'owner of the token')
    .option('-n, --name <name>', 'a label', '')
    .option('-r, --repos <keys>', "comma-separated repository keys, or '*'", '*')
    .addOption(new Option('-a, --access <level>', 'what the token may do').choices(['read', 'write', 'admin']).default('write'))
    .option('-e, --expires-in <duration>', 'lifetime, e.g. 30d', parseDuration)
    .option('--json', 'print JSON', false)
    .action(
      async (opts: { user: string; name: string; repos: string; access: 'read' | 'write' | 'admin'; expiresIn?: number; json: boolean }, cmd: Command) => {
        const g = generateToken()
        const record = {
          id: g.id,
          user: opts.user,
          name: opts.name,
          secretHash: g.secretHash,
          repos: opts.repos.split(',').map((r) => r.trim()).filter(Boolean),
          access: opts.access,
          expiresAt: opts.expiresIn ? Date.now() + opts.expiresIn : null,
          createdAt: Date.now(),
        }
        await withStore(cmd, (store) => {
          if (!store.auth.getUser(opts.user)) throw new InvalidArgumentError(`user '${opts.user}' does not exist`)
          store.auth.createToken(record)
        })
        const { secretHash: _omit, ...shown } = record
        print(opts.json, { ...shown, token: g.token }, () => g.token)
      },
    )
  token
    .command('list')
    .description('list API tokens (never their secrets)')
    .option('-u, --user <name>', 'only this user')
    .option('--json', 'print JSON', false)
    .action(async (opts: { user?: string; json: boolean }, cmd: Command) => {
      const tokens = (await withStore(cmd, (store) => store.auth.listTokens(opts.user))).map(({ secretHash: _omit, ...t }) => t)
      print(opts.json, tokens, () =>
        table(
          tokens.map((t) => ({
            ...t,
            repos: t.repos.join(','),
            expires: t.expiresAt ? new Date(t.expiresAt).toISOString() : 'never',
            used: t.lastUsedAt ? new Date(t.lastUsedAt).toISOString() : 'never',
          })),
          ['id', 'user', 'name', 'access', 'repos', 'expires', 'used'],
        ),
      )
    })
  token
    .command('revoke <id>')
    .description('delete an API token')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withStore(cmd, (store) => store.auth.deleteToken(id))
      process.stdout.write(`revoked token ${id}\n`)
    })

  const repo = program.command('repo').description('manage repositories')
  repo
    .command('create <key>')
    .description('create a repository')
    .requiredOption('-f, --format <format>', `format: ${FORMAT_NAMES.join(', ')}`)
    .addOption(new Option('-t, --type <type>', 'repository type (remote is implied by --upstream)').choices(['local', 'remote', 'virtual']))
    .option('--description <text>', 'description', '')
    .option('--public', 'anonymous users may read it', false)
    .option('--immutable', 'refuse to overwrite a path with different bytes', false)
    .option('--members <keys>', 'virtual: comma-separated member repositories, in lookup order')
    .option('--deploy-to <key>', 'virtual: the local member that receives publishes')
    .option('--upstream <url>', 'remote: the upstream registry it proxies (http or https)')
    .option('--upstream-user <name>', 'remote: user name for the upstream; the password comes from AK_UPSTREAM_PASSWORD (never a flag, so it stays out of shell history)')
    .action(
      async (
        key: string,
        opts: {
          format: string
          type?: 'local' | 'remote' | 'virtual'
          description: string
          public: boolean
          immutable: boolean
          members?: string
          deployTo?: string
          upstream?: string
          upstreamUser?: string
        },
        cmd: Command,
      ) => {
        if (!FORMAT_NAMES.includes(opts.format)) {
          throw new InvalidArgumentError(`unknown format '${opts.format}'; this node serves: ${FORMAT_NAMES.join(', ')}`)
        }
        const type = opts.type ?? (opts.upstream ? 'remote' : opts.members ? 'virtual' : 'local')
        const members = opts.members?.split(',').map((m) => m.trim()).filter(Boolean)
        if (type === 'virtual') {
          if (!members?.length) throw new InvalidArgumentError('a virtual repository needs --members')
        } else if (members || opts.deployTo) {
          throw new InvalidArgumentError('--members and --deploy-to apply to virtual repositories')
        }
        if (type === 'remote' && !opts.upstream) throw new InvalidArgumentError('a remote repository needs --upstream URL')
        if (type !== 'remote' && (opts.upstream || opts.upstreamUser)) throw new InvalidArgumentError('--upstream applies to remote repositories')
        const password = process.env.AK_UPSTREAM_PASSWORD
        await withStore(cmd, async (store, config) => {
          for (const m of members ?? []) {
            const member = store.repositories.get(m)
            if (!member || member.format !== opts.format || member.type === 'virtual') {
              throw new InvalidArgumentError(`member '${m}' must be an existing non-virtual ${opts.format} repository`)
            }
          }
          if (opts.deployTo && !members?.includes(opts.deployTo)) throw new InvalidArgumentError('--deploy-to must be one of --members')
          const settings: Record<string, unknown> = {}
          if (opts.immutable) settings.immutable = true
          if (members) settings.members = members
          if (opts.deployTo) settings.defaultDeployRepo = opts.deployTo
          if (opts.upstream) {
            // The same address policy as the API: no link-local or cloud metadata upstreams unless allowed.
            // Loaded here: `ak --help` and the other commands never load the formats.
            const { checkUpstreamUrl } = await import('../formats/core/index.ts')
            await checkUpstreamUrl(opts.upstream, { allowPrivate: config.remote.allowPrivateAddresses }).catch((err: unknown) => {
              throw new InvalidArgumentError((err as Error).message)
            })
            settings.upstream = {
              url: opts.upstream,
              ...(opts.upstreamUser ? { username: opts.upstreamUser } : {}),
              ...(opts.upstreamUser && password ? { password } : {}),
            }
          }
          store.repositories.create({ key, format: opts.format, type, description: opts.description, public: opts.public, settings })
        })
        process.stdout.write(`created ${type} ${opts.format} repository ${key}\n`)
      },
    )
  repo
    .command('list')
    .description('list repositories')
    .option('--json', 'print JSON', false)
    .action(async (opts: { json: boolean }, cmd: Command) => {
      const repos = await withStore(cmd, (store) => store.repositories.list().map((r) => ({ ...shown(r), artifacts: store.artifacts.count(r.key) })))
      print(opts.json, repos, () => table(repos, ['key', 'format', 'type', 'public', 'artifacts', 'description']))
    })
  repo
    .command('get <key>')
    .description('show one repository as JSON')
    .action(async (key: string, _opts: unknown, cmd: Command) => {
      const r = await withStore(cmd, (store) => ({ ...shown(store.repositories.require(key)), artifacts: store.artifacts.count(key) }))
      print(true, r, () => '')
    })
  repo
    .command('update <key>')
    .description('change description, public flag or immutability')
    .option('--description <text>', 'description')
    .option('--public <bool>', 'true or false')
    .option('--immutable <bool>', 'true or false')
    .action(async (key: string, opts: { description?: string; public?: string; immutable?: string }, cmd: Command) => {
      await withStore(cmd, (store) => {
        const current = store.repositories.require(key)
        store.repositories.update(key, {
          description: opts.description,
          public: opts.public === undefined ? undefined : opts.public === 'true',
          settings: opts.immutable === undefined ? undefined : { ...current.settings, immutable: opts.immutable === 'true' },
        })
      })
      process.stdout.write(`updated repository ${key}\n`)
    })
  repo
    .command('delete <key>')
    .description('delete a repository and its artifacts (blobs are freed by gc)')
    .requiredOption('--yes', 'confirm')
    .action(async (key: string, _opts: unknown, cmd: Command) => {
      const { artifacts } = await withStore(cmd, (store) => store.repositories.delete(key))
      process.stdout.write(`deleted repository ${key} and its ${artifacts} artifacts\n`)
    })

  program
    .command('fsck')
    .description('verify every blob against its digests and every artifact against its blob')
    .option('--repair', 'remove artifacts whose bytes are missing or corrupt, and the corrupt bytes', false)
    .option('--quick', 'check existence and size only, without rehashing', false)
    .option('--json', 'print the report as JSON', false)
    .action(async (opts: { repair: boolean; quick: boolean; json: boolean }, cmd: Command) => {
      const report = await withStore(cmd, (store) =>
        store.fsck({ repair: opts.repair, quick: opts.quick }),
      )
      print(opts.json, report, () =>
        [
          `checked ${report.blobsChecked} blobs (${report.bytesVerified} bytes rehashed) and ${report.artifactsChecked} artifacts`,
          ...report.problems.map((p) => `PROBLEM ${p.kind} ${p.sha256}${p.repo ? ` ${p.repo}/${p.path}` : ''}: ${p.detail}`),
          `${report.problems.length} problems`,
          report.orphanObjects ? `${report.orphanObjects} unreferenced stored objects (gc removes them after the grace period)` : '',
          report.repaired ? `repaired: ${JSON.stringify(report.repaired)}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      )
      if (report.problems.length > 0 && !opts.repair) process.exitCode = 1
    })

  program
    .command('gc')
    .description('delete blobs no artifact references, once older than the grace period')
    .option('--grace <duration>', 'keep unreferenced blobs younger than this (default from config, 1h)', parseDuration)
    .option('--dry-run', 'only report what would be deleted', false)
    .option('--json', 'print the report as JSON', false)
    .action(async (opts: { grace?: number; dryRun: boolean; json: boolean }, cmd: Command) => {
      const report = await withStore(cmd, (store, config) =>
        store.gc({ graceMs: opts.grace ?? config.gc.graceMs, dryRun: opts.dryRun }),
      )
      print(opts.json, report, () =>
        `${report.dryRun ? 'would delete' : 'deleted'} ${report.blobsDeleted} blobs and ${report.orphanObjectsDeleted} orphan objects, ${report.bytesFreed} bytes`,
      )
    })

  const mesh = program.command('mesh').description('the libp2p mesh: keys and identity')
  mesh
    .command('keygen')
    .description('print a new private-network key (for AK_MESH_KEY or a file named by AK_MESH_KEY_FILE)')
    .action(async () => {
      const { generateMeshKey } = await import('../mesh/index.ts')
      process.stdout.write(`${generateMeshKey()}\n`)
    })
  mesh
    .command('id')
    .description("print this data directory's peer ID (created on first use), for other nodes' AK_MESH_ALLOW")
    .action(async (_opts: unknown, cmd: Command) => {
      const config = configFrom(cmd)
      mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
      const { loadOrCreateIdentity } = await import('../mesh/index.ts')
      process.stdout.write(`${(await loadOrCreateIdentity(config.dataDir)).peerId}\n`)
    })
  addMeshPeersCommand(mesh, { config: (cmd) => configFrom(cmd), table })
  registerBundleCommands(program)
  addTransfersCommand(program, { config: (cmd) => configFrom(cmd), table })

  return program
}

/** Runs the CLI; prints domain and configuration errors as one clear line and exits non-zero. */
export async function main(argv: string[]): Promise<void> {
  // What ak writes (the data directory, bundles, key files) is this user's alone, whatever the
  // caller's umask; files that need more say so explicitly.
  process.umask(0o077)
  try {
    await buildCli().parseAsync(argv)
  } catch (err) {
    if (err instanceof ConfigError || err instanceof AkError || err instanceof InvalidArgumentError) {
      process.stderr.write(`ak: ${err.message}\n`)
      process.exit(err instanceof AkError && err.code === 'AK_MIGRATION_FAILED' ? 3 : 2)
    }
    if (err instanceof ApiClientError) {
      process.stderr.write(`ak: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
}
