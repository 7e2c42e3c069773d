import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { ADMIN_PASSWORD, startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'

const NPM_TIMEOUT = 90_000

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * The real npm CLI against a real node process: login (legacy, driven through its prompts),
 * whoami, publish of unscoped and scoped packages, install of a package that depends on
 * another, dist-tag add/ls/rm, deprecate, immutability, unpublish, search, a virtual
 * repository, and logout. HOME, cache and user config live in a temp dir.
 */
describe('npm CLI against a node', () => {
  const hasNpm = requireClient('npm', 'apt-get install -y npm')

  let node: NodeProcess
  let work: string
  let home: string
  let registry: string
  let virtualRegistry: string

  /** The environment of every npm call: nothing from the user's or an outer npm's config. */
  const env = () => {
    const clean: Record<string, string> = {}
    for (const [k, v] of Object.entries(process.env)) {
      if (v === undefined || /^npm_/i.test(k) || /_proxy$/i.test(k)) continue
      clean[k] = v
    }
    return {
      ...clean,
      HOME: home,
      npm_config_userconfig: join(home, '.npmrc'),
      npm_config_cache: join(work, 'npm-cache'),
      npm_config_update_notifier: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_loglevel: 'notice',
    }
  }

  /** Runs npm in `cwd`; `answers` reply to interactive prompts (prompt text → line). */
  const npm = (cwd: string, args: string[], answers: [RegExp, string][] = []): Promise<Run> =>
    new Promise((resolve) => {
      const child = spawn('npm', args, { cwd, env: env(), stdio: ['pipe', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      const pending = [...answers]
      const answer = () => {
        const next = pending[0]
        if (next && next[0].test(stdout + stderr)) {
          pending.shift()
          child.stdin.write(`${next[1]}\n`)
          // Later prompts are matched against what comes after this one.
          stdout = stdout.replace(next[0], '')
          stderr = stderr.replace(next[0], '')
        }
      }
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
        answer()
      })
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
        answer()
      })
      if (answers.length === 0) child.stdin.end()
      const timer = setTimeout(() => child.kill('SIGKILL'), NPM_TIMEOUT)
      child.once('close', (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    })

  const ok = (r: Run) => {
    expect(r.code, `npm failed:\n${r.stdout}\n${r.stderr}`).toBe(0)
    return r
  }

  const project = (dir: string, manifest: Record<string, unknown>, files: Record<string, string> = {}) => {
    const path = join(work, dir)
    mkdirSync(path, { recursive: true })
    writeFileSync(join(path, 'package.json'), JSON.stringify(manifest, null, 2))
    for (const [name, text] of Object.entries(files)) writeFileSync(join(path, name), text)
    return path
  }

  const api = async (method: string, path: string, body?: unknown, auth = node.adminAuth) => {
    const res = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    return { status: res.status, json: (await res.json().catch(() => undefined)) as Record<string, unknown> }
  }

  beforeAll(async () => {
    if (!hasNpm) return
    work = tempDir('ak-npm-e2e-')
    home = join(work, 'home')
    mkdirSync(home)
    node = await startNodeProcess()
    registry = `${node.url}/npm/npm-local/`
    virtualRegistry = `${node.url}/npm/npm-virtual/`
    for (const key of ['npm-local', 'npm-other']) {
      expect((await api('POST', '/api/v1/repositories', { key, format: 'npm', type: 'local' })).status).toBe(201)
    }
    const virtual = { key: 'npm-virtual', format: 'npm', type: 'virtual', settings: { members: ['npm-local', 'npm-other'], defaultDeployRepo: 'npm-local' } }
    expect((await api('POST', '/api/v1/repositories', virtual)).status).toBe(201)
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it.skipIf(!hasNpm)('npm login --auth-type=legacy answers the prompts, stores a token, and npm whoami knows the user', async () => {
    const dir = project('login', { name: 'login-probe', version: '0.0.0' })
    const r = ok(
      await npm(dir, ['login', '--auth-type=legacy', `--registry=${registry}`], [
        [/Username:/, 'admin'],
        [/Password:/, ADMIN_PASSWORD],
      ]),
    )
    expect(r.stdout).toContain('Logged in')
    const userConfig = readFileSync(join(home, '.npmrc'), 'utf8')
    expect(userConfig).toMatch(new RegExp(`//127\\.0\\.0\\.1:\\d+/npm/npm-local/:_authToken=akt_`))
    expect(ok(await npm(dir, ['whoami', `--registry=${registry}`])).stdout.trim()).toBe('admin')
  })

  it.skipIf(!hasNpm)('publishes an unscoped and a scoped package, and installs one that depends on the other', async () => {
    const base = project('base-lib', { name: 'base-lib', version: '1.0.0', description: 'the base library', keywords: ['foundation'] }, {
      'index.js': "module.exports = 'base 1.0.0'\n",
    })
    ok(await npm(base, ['publish', `--registry=${registry}`]))
    const widget = project('widget', { name: '@acme/widget', version: '1.0.0', dependencies: { 'base-lib': '^1.0.0' } }, {
      'index.js': "module.exports = 'widget on ' + require('base-lib')\n",
    })
    const pub = ok(await npm(widget, ['publish', '--access=public', `--registry=${registry}`]))
    expect(pub.stdout).toContain('+ @acme/widget@1.0.0')

    const app = project('app', { name: 'app', version: '1.0.0', private: true, dependencies: { '@acme/widget': '1.0.0' } })
    ok(await npm(app, ['install', '--no-audit', '--no-fund', '--no-package-lock', `--registry=${registry}`]))
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['-e', "process.stdout.write(require('@acme/widget'))"], { cwd: app })
      let text = ''
      child.stdout.on('data', (d: Buffer) => (text += d.toString()))
      child.once('close', () => resolve(text))
    })
    expect(out).toBe('widget on base 1.0.0')
    expect(existsSync(join(app, 'node_modules', 'base-lib', 'package.json'))).toBe(true)
  })

  it.skipIf(!hasNpm)('refuses to re-publish a version with changed content (E403) and keeps the first tarball', async () => {
    const base = join(work, 'base-lib')
    const before = (await api('GET', '/npm/npm-local/base-lib')).json as { versions: Record<string, { dist: { shasum: string } }> }
    writeFileSync(join(base, 'index.js'), "module.exports = 'tampered'\n")
    // npm 11 checks the packument first and refuses on its own…
    const checked = await npm(base, ['publish', `--registry=${registry}`])
    expect(checked.code).not.toBe(0)
    expect(checked.stderr).toContain('You cannot publish over the previously published versions: 1.0.0.')
    // …--force skips that check, so the PUT reaches the node, which refuses it the npm registry's way.
    const forced = await npm(base, ['publish', '--force', `--registry=${registry}`])
    expect(forced.code).not.toBe(0)
    expect(forced.stderr).toContain('E403')
    expect(forced.stderr).toContain('403 Forbidden - PUT')
    expect(forced.stderr).toContain('You cannot publish over the previously published versions: 1.0.0.')
    const after = (await api('GET', '/npm/npm-local/base-lib')).json as typeof before
    expect(after.versions['1.0.0']?.dist.shasum).toBe(before.versions['1.0.0']?.dist.shasum)
    writeFileSync(join(base, 'index.js'), "module.exports = 'base 1.0.0'\n")
  })

  it.skipIf(!hasNpm)('adds, lists and removes dist-tags', async () => {
    const dir = join(work, 'base-lib')
    expect(ok(await npm(dir, ['dist-tag', 'add', 'base-lib@1.0.0', 'stable', `--registry=${registry}`])).stdout).toContain('+stable: base-lib@1.0.0')
    const ls = ok(await npm(dir, ['dist-tag', 'ls', 'base-lib', `--registry=${registry}`])).stdout
    expect(ls).toContain('latest: 1.0.0')
    expect(ls).toContain('stable: 1.0.0')
    ok(await npm(dir, ['dist-tag', 'rm', 'base-lib', 'stable', `--registry=${registry}`]))
    expect(ok(await npm(dir, ['dist-tag', 'ls', 'base-lib', `--registry=${registry}`])).stdout).not.toContain('stable')
  })

  it.skipIf(!hasNpm)('deprecates a version and undeprecates it', async () => {
    const dir = join(work, 'base-lib')
    ok(await npm(dir, ['deprecate', 'base-lib@1.0.0', 'use 2.x', `--registry=${registry}`]))
    const doc = (await api('GET', '/npm/npm-local/base-lib')).json as { versions: Record<string, { deprecated?: string }> }
    expect(doc.versions['1.0.0']?.deprecated).toBe('use 2.x')
    ok(await npm(dir, ['deprecate', 'base-lib@1.0.0', '', `--registry=${registry}`]))
    const after = (await api('GET', '/npm/npm-local/base-lib')).json as { versions: Record<string, { deprecated?: string }> }
    expect(after.versions['1.0.0']?.deprecated).toBeUndefined()
  })

  it.skipIf(!hasNpm)('unpublishes one version: the packument, latest and the tarball follow', async () => {
    const dir = project('base-lib-2', { name: 'base-lib', version: '1.1.0' }, { 'index.js': "module.exports = 'base 1.1.0'\n" })
    ok(await npm(dir, ['publish', `--registry=${registry}`]))
    expect(((await api('GET', '/npm/npm-local/base-lib')).json['dist-tags'] as Record<string, string>).latest).toBe('1.1.0')
    ok(await npm(dir, ['unpublish', 'base-lib@1.1.0', `--registry=${registry}`]))
    const doc = (await api('GET', '/npm/npm-local/base-lib')).json
    expect(Object.keys(doc.versions as object)).toEqual(['1.0.0'])
    expect((doc['dist-tags'] as Record<string, string>).latest).toBe('1.0.0')
    expect((await api('GET', '/npm/npm-local/base-lib/-/base-lib-1.1.0.tgz')).status).toBe(404)
  })

  it.skipIf(!hasNpm)('unpublishes a whole package with --force', async () => {
    const dir = project('doomed', { name: 'doomed-pkg', version: '1.0.0' }, { 'index.js': '1\n' })
    ok(await npm(dir, ['publish', `--registry=${registry}`]))
    ok(await npm(dir, ['unpublish', 'doomed-pkg', '--force', `--registry=${registry}`]))
    expect((await api('GET', '/npm/npm-local/doomed-pkg')).status).toBe(404)
  })

  it.skipIf(!hasNpm)('finds packages with npm search', async () => {
    const r = ok(await npm(work, ['search', 'foundation', `--registry=${registry}`]))
    expect(r.stdout).toContain('base-lib')
    expect(r.stdout).toContain('the base library')
  })

  it.skipIf(!hasNpm)('installs through a virtual repository with an API token from /api/v1/tokens, and publishes to its deploy repository', async () => {
    const created = await api('POST', '/api/v1/tokens', { name: 'npm e2e', access: 'write' })
    expect(created.status).toBe(201)
    const token = created.json.token as string
    const authLine = `${virtualRegistry.replace(/^http:/, '')}:_authToken=${token}`
    // other-lib lives only in the second member.
    const other = project('other-lib', { name: 'other-lib', version: '2.0.0' }, { 'index.js': "module.exports = 'other'\n" })
    writeFileSync(join(other, '.npmrc'), `registry=${node.url}/npm/npm-other/\n//127.0.0.1:${new URL(node.url).port}/npm/npm-other/:_authToken=${token}\n`)
    ok(await npm(other, ['publish']))

    const app = project('virtual-app', { name: 'virtual-app', version: '1.0.0', private: true, dependencies: { '@acme/widget': '^1.0.0', 'other-lib': '2.0.0' } })
    writeFileSync(join(app, '.npmrc'), `registry=${virtualRegistry}\n${authLine}\n`)
    ok(await npm(app, ['install', '--no-audit', '--no-fund', '--no-package-lock']))
    expect(JSON.parse(readFileSync(join(app, 'node_modules', 'other-lib', 'package.json'), 'utf8')).version).toBe('2.0.0')
    expect(existsSync(join(app, 'node_modules', 'base-lib'))).toBe(true)

    const viaVirtual = project('via-virtual', { name: 'via-virtual', version: '1.0.0' }, { 'index.js': '1\n' })
    writeFileSync(join(viaVirtual, '.npmrc'), `registry=${virtualRegistry}\n${authLine}\n`)
    ok(await npm(viaVirtual, ['publish']))
    expect((await api('GET', '/npm/npm-local/via-virtual')).status).toBe(200)
    expect((await api('GET', '/npm/npm-other/via-virtual')).status).toBe(404)
  })

  it.skipIf(!hasNpm)('npm logout revokes the token on the node', async () => {
    const dir = join(work, 'login')
    const token = /_authToken=(akt_\S+)/.exec(readFileSync(join(home, '.npmrc'), 'utf8'))?.[1] as string
    expect((await api('GET', '/npm/npm-local/-/whoami', undefined, `Bearer ${token}`)).json).toEqual({ username: 'admin' })
    ok(await npm(dir, ['logout', `--registry=${registry}`]))
    const userConfig = join(home, '.npmrc')
    // npm removes the token line (and the file, once empty).
    expect(existsSync(userConfig) ? readFileSync(userConfig, 'utf8') : '').not.toContain(token)
    expect((await api('GET', '/npm/npm-local/-/whoami', undefined, `Bearer ${token}`)).status).toBe(401)
  })
})
