import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'
import { buildSdist, buildWheel, sdistFilename, sha256, wheelFilename } from './dists.ts'
import { ADMIN_PASSWORD, adminToken, api, createRepo } from './helpers.ts'

// The real clients: twine uploads through the legacy API, pip installs through the simple API
// (pip 23 asks for PEP 691 JSON and uses PEP 658 metadata). Everything stays on 127.0.0.1.

interface Run {
  code: number | null
  output: string
}

function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

/** An interpreter that can build an sdist offline (setuptools and wheel importable), or undefined. */
function buildPython(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(py, ['-c', 'import setuptools, wheel, venv'], { stdio: 'ignore', timeout: 30_000 })
      return py
    } catch {
      // try the next one
    }
  }
  return undefined
}

const hasTwine = requireClient('twine', 'apt-get install -y twine')
const hasPip = requireClient('pip', 'apt-get install -y python3-pip')

describe.skipIf(!hasTwine || !hasPip)('twine upload and pip install against a node', () => {
  let node: NodeProcess
  let token: string
  let work: string
  let env: Record<string, string>
  const dists: Record<string, { path: string; bytes: Buffer }> = {}

  const twine = (repo: string, files: string[], extra: string[] = [], user = '__token__', password = token) =>
    run('twine', [
      'upload', '--non-interactive', '--disable-progress-bar',
      '--repository-url', `${node.url}/pypi/${repo}/`, '-u', user, '-p', password, ...extra, ...files,
    ], env)

  const indexUrl = (repo: string, user: string, secret: string) =>
    `${node.url.replace('http://', `http://${encodeURIComponent(user)}:${encodeURIComponent(secret)}@`)}/pypi/${repo}/simple/`

  /** A fresh venv of an interpreter that has setuptools and wheel, without pip (offline-safe). */
  const makeVenv = (name: string): string => {
    const py = buildPython()
    if (!py) throw new Error('no python3 with setuptools and wheel to build the sdist offline (apt-get install -y python3-setuptools python3-wheel)')
    const dir = join(work, name)
    execFileSync(py, ['-m', 'venv', '--system-site-packages', '--without-pip', dir], { timeout: 60_000 })
    return dir
  }

  const pipInstall = (venv: string, index: string, packages: string[]) =>
    run('pip', [
      '--python', join(venv, 'bin', 'python'), 'install', '--index-url', index,
      '--no-cache-dir', '--no-build-isolation', '--disable-pip-version-check', '--progress-bar', 'off', ...packages,
    ], env)

  const write = async (key: string, filename: string, bytes: Promise<Buffer> | Buffer, sub = 'dist') => {
    const dir = join(work, sub)
    mkdirSync(dir, { recursive: true })
    const b = await bytes
    const path = join(dir, filename)
    writeFileSync(path, b)
    dists[key] = { path, bytes: b }
  }

  beforeAll(async () => {
    work = tempDir('ak-pypi-e2e-')
    const home = join(work, 'home')
    mkdirSync(home)
    env = {
      HOME: home,
      PIP_CONFIG_FILE: '/dev/null',
      PIP_NO_INPUT: '1',
      PYTHONNOUSERSITE: '1',
      // No desktop keyring prompts or lookups from twine.
      PYTHON_KEYRING_BACKEND: 'keyring.backends.null.Keyring',
      NO_COLOR: '1',
    }
    node = await startNodeProcess()
    token = await adminToken(node)
    await createRepo(node, 'py-local')
    await createRepo(node, 'py-team')
    await api(node, 'POST', '/repositories', {
      key: 'py-all', format: 'pypi', type: 'virtual', settings: { members: ['py-team', 'py-local'], defaultDeployRepo: 'py-team' },
    })
    await write('demo', wheelFilename('akdemo', '1.0.0'), buildWheel({
      name: 'akdemo', version: '1.0.0', requiresPython: '>=3.7', files: { 'akdemo/__init__.py': 'VALUE = 42\n' },
    }))
    await write('app', sdistFilename('akapp', '0.1.0'), buildSdist({
      name: 'akapp', version: '0.1.0', pyModules: ['akapp'], installRequires: ['akdemo>=1.0'], requiresPython: '>=3.7',
      files: { 'akapp.py': 'from akdemo import VALUE\n\n\ndef answer():\n    return VALUE\n' },
    }))
    await write('demoOther', wheelFilename('akdemo', '1.0.0'), buildWheel({
      name: 'akdemo', version: '1.0.0', files: { 'akdemo/__init__.py': 'VALUE = 7\n' },
    }), 'conflict')
    await write('extra', wheelFilename('ak.Extra', '2.0'), buildWheel({
      name: 'ak.Extra', version: '2.0', files: { 'ak_extra.py': 'NAME = "extra"\n' }, requires: ['akdemo'],
    }))
  })

  afterAll(async () => {
    await node?.stop()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('twine uploads a wheel and an sdist with an akt_ token as __token__', async () => {
    const r = await twine('py-local', [dists.demo!.path, dists.app!.path])
    expect(r.output).not.toMatch(/error/i)
    expect(r.code).toBe(0)
    const page = await fetch(`${node.url}/pypi/py-local/simple/akdemo/`, { headers: { authorization: node.adminAuth } })
    expect(await page.text()).toContain(`${wheelFilename('akdemo', '1.0.0')}#sha256=${sha256(dists.demo!.bytes)}`)
  })

  it('twine uploading the same files again succeeds, with or without --skip-existing', async () => {
    // Same bytes under an existing filename answer 200, as on PyPI.
    for (const extra of [[], ['--skip-existing']]) {
      const r = await twine('py-local', [dists.demo!.path, dists.app!.path], extra)
      expect(r.code, r.output).toBe(0)
      expect(r.output).not.toMatch(/error/i)
    }
  })

  it('twine re-upload of a filename with other bytes fails with "File already exists" and keeps the original', async () => {
    const r = await twine('py-local', [dists.demoOther!.path])
    expect(r.code).not.toBe(0)
    expect(r.output).toContain('File already exists')
    const skipped = await twine('py-local', [dists.demoOther!.path], ['--skip-existing'])
    expect(skipped.code).toBe(0)
    expect(skipped.output).toMatch(/Skipping/)
    const file = await fetch(`${node.url}/pypi/py-local/packages/akdemo/${wheelFilename('akdemo', '1.0.0')}`, {
      headers: { authorization: node.adminAuth },
    })
    expect(sha256(Buffer.from(await file.arrayBuffer()))).toBe(sha256(dists.demo!.bytes))
  })

  it('twine with user:password credentials uploads, and is refused with a wrong password', async () => {
    const r = await twine('py-local', [dists.demo!.path], [], 'admin', 'not-the-password')
    expect(r.code).not.toBe(0)
    expect(r.output).toMatch(/401|403|Invalid or non-existent authentication/i)
    const ok = await twine('py-team', [dists.app!.path], [], 'admin', ADMIN_PASSWORD)
    expect(ok.code, ok.output).toBe(0)
  })

  it('pip builds the sdist offline and installs it with its wheel dependency from a local repository', async () => {
    const venv = makeVenv('venv-local')
    const r = await pipInstall(venv, indexUrl('py-local', 'admin', ADMIN_PASSWORD), ['akapp'])
    expect(r.output).toMatch(/Successfully installed akapp-0\.1\.0 akdemo-1\.0\.0/)
    expect(r.code).toBe(0)
    const answer = execFileSync(join(venv, 'bin', 'python'), ['-c', 'import akapp; print(akapp.answer())'], { env: { ...process.env, ...env }, timeout: 30_000 })
    expect(answer.toString().trim()).toBe('42')
    // pip took the wheel's dependencies from its PEP 658 metadata file, not from the wheel.
    expect(node.output()).toContain(`${wheelFilename('akdemo', '1.0.0')}.metadata`)
  })

  it('twine uploads to a virtual repository land in its defaultDeployRepo', async () => {
    const r = await twine('py-all', [dists.extra!.path])
    expect(r.code).toBe(0)
    const team = await fetch(`${node.url}/pypi/py-team/simple/ak-extra/`, { headers: { authorization: node.adminAuth } })
    expect(team.status).toBe(200)
    const local = await fetch(`${node.url}/pypi/py-local/simple/ak-extra/`, { headers: { authorization: node.adminAuth } })
    expect(local.status).toBe(404)
  })

  it('pip installs through a virtual repository, resolving across its members', async () => {
    const venv = makeVenv('venv-virtual')
    // ak.Extra is in py-team, its dependency akdemo in py-local; the name is given un-normalised.
    const r = await pipInstall(venv, indexUrl('py-all', '__token__', token), ['AK_extra==2.0', 'akapp'])
    expect(r.output).toMatch(/Successfully installed/)
    expect(r.code).toBe(0)
    const out = execFileSync(join(venv, 'bin', 'python'), ['-c', 'import ak_extra, akapp; print(ak_extra.NAME, akapp.answer())'], {
      env: { ...process.env, ...env },
      timeout: 30_000,
    })
    expect(out.toString().trim()).toBe('extra 42')
  })
})
