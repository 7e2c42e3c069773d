import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../../helpers/node-process.ts'

/** Result of one go command. */
export interface GoRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * A sandbox for the real go command: its own HOME, GOPATH, module and build caches in a temp
 * directory, GOPROXY pointed only at the node (no fallback to direct, so nothing leaves
 * loopback), checksum database off.
 */
export class GoSandbox {
  readonly root = tempDir('ak-go-')
  readonly home = join(this.root, 'home')

  constructor(
    private readonly goproxy: string,
    private readonly extraEnv: Record<string, string> = {},
  ) {
    mkdirSync(this.home, { recursive: true })
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.home,
      GOPATH: join(this.root, 'gopath'),
      GOMODCACHE: join(this.root, 'gopath', 'pkg', 'mod'),
      GOCACHE: join(this.root, 'gocache'),
      GOENV: 'off',
      GO111MODULE: 'on',
      GOPROXY: this.goproxy,
      GOSUMDB: 'off',
      GONOSUMDB: '*',
      GOFLAGS: '-mod=mod',
      GOTOOLCHAIN: 'local',
      CGO_ENABLED: '0',
      ...this.extraEnv,
      ...extra,
    }
  }

  /** Writes ~/.netrc with credentials for `host` (the go command reads it for proxy requests). */
  netrc(host: string, login: string, password: string): void {
    const file = join(this.home, '.netrc')
    writeFileSync(file, `machine ${host}\nlogin ${login}\npassword ${password}\n`, { mode: 0o600 })
  }

  /** Runs go with `args` in `cwd`, bounded by `timeoutMs`. */
  run(args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<GoRun> {
    return new Promise((resolve) => {
      execFile(
        'go',
        args,
        { cwd: options.cwd ?? this.root, env: this.env(options.env), timeout: options.timeoutMs ?? 180_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0
          resolve({ code, stdout, stderr })
        },
      )
    })
  }

  /** A fresh main-module directory with the given files. */
  project(name: string, files: Record<string, string>): string {
    const dir = join(this.root, 'src', name)
    mkdirSync(dir, { recursive: true })
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text)
    return dir
  }

  /** Removes the sandbox; the module cache is read-only, so make it writable first. */
  remove(): void {
    const walk = (p: string) => {
      const st = statSync(p, { throwIfNoEntry: false })
      if (!st) return
      if (st.isDirectory()) {
        chmodSync(p, 0o755)
        for (const e of readdirSync(p)) walk(join(p, e))
      }
    }
    walk(this.root)
    rmSync(this.root, { recursive: true, force: true })
  }
}
