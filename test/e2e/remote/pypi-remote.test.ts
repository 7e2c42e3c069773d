import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'
import { buildWheel, wheelFilename } from '../pypi/dists.ts'
import { startCountingProxy, type CountingProxy } from '../../formats/remote/index.ts'

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

const hasTwine = requireClient('twine', 'apt-get install -y twine')
const hasPip = requireClient('pip', 'apt-get install -y python3-pip')

/**
 * pip through a PyPI remote repository: an UPSTREAM node process with a local repository (wheels
 * uploaded with twine), a counting proxy in front of it, and an EDGE node process with a remote
 * repository on the upstream's URL and a virtual repository (local + remote).
 */
describe.skipIf(!hasTwine || !hasPip)('pip through a remote repository', () => {
  let upstream: NodeProcess
  let edge: NodeProcess
  let proxy: CountingProxy
  let work: string
  let env: Record<string, string>

  const api = async (node: NodeProcess, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${node.url}/api/v1${path}`, {
      method,
      headers: { authorization: node.adminAuth, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return text ? (JSON.parse(text) as Record<string, unknown>) : {}
  }

  const wheel = async (name: string, version: string, files: Record<string, string>, requires: string[] = []) => {
    const path = join(work, 'dist', wheelFilename(name, version))
    mkdirSync(join(work, 'dist'), { recursive: true })
    writeFileSync(path, await buildWheel({ name, version, files, requires }))
    return path
  }

  const twine = (node: NodeProcess, repo: string, token: string, files: string[]) =>
    run('twine', ['upload', '--non-interactive', '--disable-progress-bar', '--repository-url', `${node.url}/pypi/${repo}/`, '-u', '__token__', '-p', token, ...files], env)

  const pipInstall = (target: string, index: string, packages: string[]) =>
    run('pip', ['install', '--index-url', index, '--no-cache-dir', '--disable-pip-version-check', '--progress-bar', 'off', '--target', join(work, target), ...packages], env)

  const python = (target: string, code: string) =>
    execFileSync('python3', ['-c', code], { env: { ...process.env, ...env, PYTHONPATH: join(work, target) }, timeout: 30_000 }).toString().trim()

  beforeAll(async () => {
    work = tempDir('ak-remote-pypi-')
    mkdirSync(join(work, 'home'))
    env = { HOME: join(work, 'home'), PIP_CONFIG_FILE: '/dev/null', PIP_NO_INPUT: '1', PYTHONNOUSERSITE: '1', PYTHON_KEYRING_BACKEND: 'keyring.backends.null.Keyring', NO_COLOR: '1' }
    for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) env[k] = ''
    upstream = await startNodeProcess()
    proxy = await startCountingProxy(upstream.url)
    edge = await startNodeProcess()
    await api(upstream, 'POST', '/repositories', { key: 'py-local', format: 'pypi', public: true })
    const upToken = (await api(upstream, 'POST', '/tokens', { name: 'twine' })).token as string
    await api(edge, 'POST', '/repositories', {
      key: 'py-remote', format: 'pypi', type: 'remote', public: true, upstream: { url: `${proxy.url}/pypi/py-local` }, settings: { metadataTtlMs: 0 },
    })
    await api(edge, 'POST', '/repositories', { key: 'py-edge', format: 'pypi', public: true })
    await api(edge, 'POST', '/repositories', {
      key: 'py-all', format: 'pypi', type: 'virtual', public: true, settings: { members: ['py-edge', 'py-remote'], defaultDeployRepo: 'py-edge' },
    })
    const files = [
      await wheel('akremote-base', '1.0.0', { 'akremote_base/__init__.py': 'VALUE = 41\n' }),
      await wheel('akremote-app', '1.0.0', { 'akremote_app/__init__.py': 'from akremote_base import VALUE\nANSWER = VALUE + 1\n' }, ['akremote-base>=1.0']),
    ]
    const up = await twine(upstream, 'py-local', upToken, files)
    expect(up.code, up.output).toBe(0)
    const edgeToken = (await api(edge, 'POST', '/tokens', { name: 'twine' })).token as string
    const local = await twine(edge, 'py-all', edgeToken, [await wheel('akedge-tool', '0.1', { 'akedge_tool.py': 'from akremote_base import VALUE\nNAME = "tool %d" % VALUE\n' }, ['akremote-base'])])
    expect(local.code, local.output).toBe(0)
  }, 240_000)

  afterAll(async () => {
    await edge?.stop()
    await upstream?.stop()
    await proxy?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('serves the upstream project page with file URLs on the edge, hashes and metadata attributes kept', async () => {
    const html = await (await fetch(`${edge.url}/pypi/py-remote/simple/akremote-app/`, { headers: { accept: 'text/html' } })).text()
    const link = /<a href="([^"]+)"([^>]*)>akremote_app-1\.0\.0-py3-none-any\.whl<\/a>/.exec(html)
    expect(link?.[1]).toMatch(/^\.\.\/\.\.\/packages\/akremote-app\/akremote_app-1\.0\.0-py3-none-any\.whl#sha256=[a-f0-9]{64}$/)
    expect(link?.[2]).toMatch(/data-core-metadata="sha256=[a-f0-9]{64}"/)
    const json = (await (await fetch(`${edge.url}/pypi/py-remote/simple/akremote-app/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as {
      files: { url: string; hashes: { sha256: string } }[]
    }
    expect(json.files[0]?.url).toBe('../../packages/akremote-app/akremote_app-1.0.0-py3-none-any.whl')
    expect(json.files[0]?.hashes.sha256).toMatch(/^[a-f0-9]{64}$/)
  })

  it('pip install through the remote repository fetches each file from the upstream once', async () => {
    const r = await pipInstall('t1', `${edge.url}/pypi/py-remote/simple/`, ['akremote-app'])
    expect(r.code, r.output).toBe(0)
    expect(python('t1', 'import akremote_app; print(akremote_app.ANSWER)')).toBe('42')
    const again = await pipInstall('t2', `${edge.url}/pypi/py-remote/simple/`, ['akremote-app'])
    expect(again.code, again.output).toBe(0)
    expect(proxy.count('/packages/akremote-app/akremote_app-1.0.0-py3-none-any.whl'), JSON.stringify(proxy.seen.filter((s) => s.url.includes('/packages/')).map((s) => [s.method, s.url, s.status, s.headers.range, s.headers['user-agent']]))).toBe(1)
    // Pages are revalidated (TTL 0 here) with a conditional request the upstream answers with 304.
    const page = proxy.seen.filter((s) => s.url.startsWith('/pypi/py-local/simple/akremote-app/'))
    expect(page.some((s) => s.headers['if-none-match'] !== undefined && s.status === 304)).toBe(true)
  })

  it('pip install through a virtual repository takes the local package and its dependency from the remote member', async () => {
    const r = await pipInstall('t3', `${edge.url}/pypi/py-all/simple/`, ['akedge-tool'])
    expect(r.code, r.output).toBe(0)
    expect(python('t3', 'import akedge_tool; print(akedge_tool.NAME)')).toBe('tool 41')
  })

  it('with the upstream stopped, pip still installs cached files and pages are served stale with a warning', async () => {
    await upstream.stop()
    const res = await fetch(`${edge.url}/pypi/py-remote/simple/akremote-app/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ak-cache')).toBe('STALE')
    expect(res.headers.get('warning')).toBe('110 - "Response is Stale"')
    await res.text()
    const r = await pipInstall('t4', `${edge.url}/pypi/py-remote/simple/`, ['akremote-app'])
    expect(r.code, r.output).toBe(0)
    expect(python('t4', 'import akremote_app; print(akremote_app.ANSWER)')).toBe('42')
  })
})
