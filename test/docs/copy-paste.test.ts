import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REQUIRE_CLIENTS, requireClient } from '../helpers/clients.ts'
import { ADMIN_PASSWORD, REPO_ROOT, startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'

// The README's first minute used a file that did not exist and wrote npm's .npmrc where npm never read
// it: the copy-paste blocks of the README and the format pages are run here, as pasted, against a node.
// A block is marked by `<!-- copy-paste-test: KEY -->` on the line before its fence; it is written for
// a node on 127.0.0.1:8080 with the checkout as the working directory, so the test rewrites only the
// address and gives the block a working directory whose `data` is the node's data directory.

interface Block {
  key: string
  file: string
  script: string
}

const DEFAULT_ADDRESS = '127.0.0.1:8080'
/** Keys whose blocks must exist (the issue asks for at least these). */
const REQUIRED = ['generic', 'npm', 'pypi']
const BLOCK_TIMEOUT = 180_000

function collectBlocks(): Block[] {
  const files = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs', 'formats')).filter((f) => f.endsWith('.md')).map((f) => join('docs', 'formats', f))]
  const out: Block[] = []
  for (const file of files) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8')
    for (const m of text.matchAll(/<!-- copy-paste-test: ([a-z0-9-]+) -->\n```sh\n([\s\S]*?)\n```/g)) {
      out.push({ key: m[1] as string, file, script: m[2] as string })
    }
  }
  return out
}

/** An interpreter with setuptools, wheel, venv and pip, to put first on PATH as `python3`. */
function buildPython(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(py, ['-c', 'import setuptools, wheel, venv, ensurepip, pip'], { stdio: 'ignore', timeout: 30_000 })
      return execFileSync(py, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim()
    } catch {
      // try the next one
    }
  }
  return undefined
}

function runBlock(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), BLOCK_TIMEOUT - 5_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

const blocks = collectBlocks()

describe('copy-paste blocks of the README and docs/formats', () => {
  it('include the required formats', () => {
    expect(REQUIRED.filter((k) => !blocks.some((b) => b.key === k))).toEqual([])
  })

  const hasCurl = requireClient('curl', 'apt-get install -y curl')
  const hasTwine = requireClient('twine', 'apt-get install -y twine')
  const python = buildPython()
  if (!python) {
    const msg = '\n!!! no python3 with setuptools, wheel, venv and pip: the pypi copy-paste block is SKIPPED. Install: apt-get install -y python3-pip python3-venv python3-setuptools python3-wheel\n'
    if (REQUIRE_CLIENTS) it('python3 with setuptools, wheel, venv and pip is installed (AK_REQUIRE_CLIENTS=1)', () => { throw new Error(msg) })
    else process.stderr.write(msg)
  }

  let node: NodeProcess
  let work: string
  let env: NodeJS.ProcessEnv
  beforeAll(async () => {
    node = await startNodeProcess()
    // As on a first start without AK_ADMIN_PASSWORD: the blocks read the password from this file.
    writeFileSync(join(node.dataDir, 'initial-admin-password'), `${ADMIN_PASSWORD}\n`, { mode: 0o600 })
    // Inside the checkout, so `npm run ak` finds the project as it does for a newcomer.
    work = join(REPO_ROOT, '.tmp', `copy-paste-${process.pid}`)
    rmSync(work, { recursive: true, force: true })
    mkdirSync(join(work, 'home'), { recursive: true })
    mkdirSync(join(work, 'bin'))
    if (python) symlinkSync(python, join(work, 'bin', 'python3'))
    env = {
      ...process.env,
      PATH: `${join(work, 'bin')}:${process.env.PATH ?? ''}`,
      HOME: join(work, 'home'),
      AK_DATA_DIR: node.dataDir,
      npm_config_cache: join(work, 'home', '.npm'),
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      PIP_CONFIG_FILE: '/dev/null',
      PIP_NO_INPUT: '1',
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
      PYTHONNOUSERSITE: '1',
      PYTHON_KEYRING_BACKEND: 'keyring.backends.null.Keyring',
    }
  })
  afterAll(async () => {
    await node?.stop()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  for (const [i, block] of blocks.entries()) {
    const needs = block.key === 'pypi' ? hasCurl && hasTwine && python !== undefined : hasCurl
    it.skipIf(!needs)(`${block.file}: the ${block.key} block runs as pasted`, { timeout: BLOCK_TIMEOUT }, async () => {
      const cwd = join(work, `block-${i}`)
      mkdirSync(cwd)
      symlinkSync(node.dataDir, join(cwd, 'data'))
      copyFileSync(join(REPO_ROOT, 'README.md'), join(cwd, 'README.md'))
      const script = block.script.replaceAll(DEFAULT_ADDRESS, new URL(node.url).host)
      const { code, output } = await runBlock(script, cwd, env)
      expect(code, `${block.file} ${block.key} block failed:\n${output}`).toBe(0)
      expect(output).not.toMatch(/"error":\s*"AK_/)
    })
  }
})
