import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { it } from 'vitest'
import { REQUIRE_CLIENTS, requireClient } from '../../helpers/clients.ts'

/** Test support for driving the real cargo against a node. */

/** cargo on PATH, else rustup's default place (a shell that never sourced ~/.cargo/env). */
export const CARGO = ((): string => {
  try {
    execFileSync('cargo', ['--version'], { stdio: 'ignore', timeout: 30_000 })
    return 'cargo'
  } catch {
    const rustup = join(homedir(), '.cargo', 'bin', 'cargo')
    return existsSync(rustup) ? rustup : 'cargo'
  }
})()

/** Sparse registries with auth-required and credential providers need cargo 1.74 or later. */
const MIN_MINOR = 74
const INSTALL_HINT = 'rustup (cargo >= 1.74; Debian bookworm\'s cargo 0.66 predates sparse registries)'

/** Whether a usable cargo is installed; skips loudly (or fails under AK_REQUIRE_CLIENTS=1) when not. */
export function requireCargo(): boolean {
  if (!requireClient(CARGO, INSTALL_HINT)) return false
  const version = execFileSync(CARGO, ['--version'], { encoding: 'utf8', timeout: 30_000 })
  const m = /cargo 1\.(\d+)\./.exec(version)
  if (m && Number(m[1]) >= MIN_MINOR) return true
  const msg = `\n!!! ${version.trim()} is too old for these tests: they are SKIPPED. Install ${INSTALL_HINT}\n`
  if (REQUIRE_CLIENTS) {
    it('cargo is recent enough (AK_REQUIRE_CLIENTS=1)', () => {
      throw new Error(msg)
    })
  } else {
    process.stderr.write(msg)
  }
  return false
}

export interface CargoResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface CargoEnv {
  /** The temporary CARGO_HOME (config.toml, credentials.toml, caches). */
  home: string
  /** A shared CARGO_TARGET_DIR so tiny crates compile once. */
  target: string
}

/**
 * Writes a CARGO_HOME whose registries point at the node only. crates.io is replaced by a
 * local registry that does not exist, so any accidental crates.io dependency fails at once
 * instead of reaching the internet.
 */
export function writeCargoHome(env: CargoEnv, registries: Record<string, { index: string; token: string }>): void {
  mkdirSync(env.home, { recursive: true })
  const config = [
    '[registry]',
    'global-credential-providers = ["cargo:token"]',
    '',
    '[source.crates-io]',
    'replace-with = "no-crates-io"',
    '[source.no-crates-io]',
    `local-registry = ${JSON.stringify(join(env.home, 'no-crates-io'))}`,
    '',
    '[net]',
    'git-fetch-with-cli = false',
    '',
    ...Object.entries(registries).flatMap(([name, r]) => [`[registries.${name}]`, `index = ${JSON.stringify(`sparse+${r.index}`)}`, '']),
  ].join('\n')
  writeFileSync(join(env.home, 'config.toml'), config)
  const credentials = Object.entries(registries)
    .flatMap(([name, r]) => [`[registries.${name}]`, `token = ${JSON.stringify(r.token)}`, ''])
    .join('\n')
  writeFileSync(join(env.home, 'credentials.toml'), credentials, { mode: 0o600 })
}

/** Runs cargo in `cwd` with the test's CARGO_HOME, bounded by `timeoutMs`. */
export function cargo(env: CargoEnv, cwd: string, args: string[], timeoutMs = 180_000, extraEnv: Record<string, string> = {}): Promise<CargoResult> {
  // The user's own registry settings and tokens must not leak into the test.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^CARGO_REGISTR(Y|IES)_/.test(k)))
  const child = spawn(CARGO, args, {
    cwd,
    env: {
      ...inherited,
      CARGO_HOME: env.home,
      CARGO_TARGET_DIR: env.target,
      CARGO_NET_OFFLINE: 'false',
      CARGO_TERM_COLOR: 'never',
      CARGO_INCREMENTAL: '0',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}

export interface CrateSpec {
  name: string
  version: string
  /** Lines of the [dependencies] table. */
  deps?: string[]
  /** src/lib.rs, or src/main.rs when `bin` is set. */
  source: string
  bin?: boolean
  publish?: string[]
}

/** Writes a tiny crate project in `dir`/`name`-`version` and returns its path. */
export function writeCrate(dir: string, spec: CrateSpec): string {
  const root = join(dir, `${spec.name}-${spec.version}`)
  mkdirSync(join(root, 'src'), { recursive: true })
  const toml = [
    '[package]',
    `name = "${spec.name}"`,
    `version = "${spec.version}"`,
    'edition = "2021"',
    `description = "test crate ${spec.name}"`,
    'license = "MIT"',
    ...(spec.publish ? [`publish = ${JSON.stringify(spec.publish)}`] : []),
    '',
    '[dependencies]',
    ...(spec.deps ?? []),
    '',
  ].join('\n')
  writeFileSync(join(root, 'Cargo.toml'), toml)
  writeFileSync(join(root, 'src', spec.bin ? 'main.rs' : 'lib.rs'), spec.source)
  return root
}
