// Pins: upstream passwords were stored in plain text in metadata.db (mode 0644, readable by any
// local user), a data directory from before kept them so, and nothing kept them out of outputs.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runAk, startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'

const USER = 'puller'
const SECRET = 'pl4in-upstream-secret-9c1e'
const LEGACY_SECRET = 'legacy-plain-secret-41d7'

/** Every file under `dir` with its mode, directories included. */
function walk(dir: string): { path: string; dir: boolean; mode: number }[] {
  const out: { path: string; dir: boolean; mode: number }[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name)
    out.push({ path, dir: e.isDirectory(), mode: statSync(path).mode & 0o777 })
    if (e.isDirectory()) out.push(...walk(path))
  }
  return out
}

/** The files under `dir` whose bytes contain `needle` (as UTF-8). */
function filesContaining(dir: string, needle: string): string[] {
  const bytes = Buffer.from(needle, 'utf8')
  return walk(dir)
    .filter((f) => !f.dir && readFileSync(f.path).includes(bytes))
    .map((f) => f.path)
}

describe('secrets at rest', () => {
  let upstream: Server
  let upstreamUrl: string
  let node: NodeProcess | undefined
  const dataDir = tempDir('ak-secrets-')
  const work = tempDir('ak-secrets-work-')
  /** Basic credentials the upstream accepts. */
  const accepted = new Set([SECRET, LEGACY_SECRET].map((p) => `Basic ${Buffer.from(`${USER}:${p}`).toString('base64')}`))

  const start = async (env: Record<string, string> = {}) => {
    node = await startNodeProcess({ dataDir, env })
    return node
  }
  const api = async (method: string, path: string, body?: unknown) => {
    const n = node as NodeProcess
    const res = await fetch(`${n.url}/api/v1${path}`, {
      method,
      headers: { authorization: n.adminAuth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    })
    return { status: res.status, text: await res.text() }
  }

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      if (!accepted.has(req.headers.authorization ?? '')) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="up"' }).end()
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`authenticated ${req.url}\n`)
    })
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    await node?.stop()
    await new Promise<void>((r) => upstream.close(() => r()))
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(work, { recursive: true, force: true })
  })

  it('seals the upstream password: no file in the data directory holds it, and the remote still authenticates', async () => {
    const n = await start()
    const created = await api('POST', '/repositories', {
      key: 'up',
      format: 'generic',
      type: 'remote',
      public: true,
      upstream: { url: `${upstreamUrl}/files/`, username: USER, password: SECRET },
    })
    expect(created.status, created.text).toBe(201)
    expect(created.text).not.toContain(SECRET)
    const res = await fetch(`${n.url}/generic/up/a.txt`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('authenticated /files/a.txt\n')
    // While running too: the WAL is a file of the data directory.
    expect(filesContaining(dataDir, SECRET)).toEqual([])
    expect(await n.stop()).toBe(0)
    expect(filesContaining(dataDir, SECRET)).toEqual([])
    expect(n.output()).not.toContain(SECRET)
  })

  it('keeps the data directory 0700 and every file in it 0600 (database, WAL, keys, blobs, temp dirs)', async () => {
    const n = await start()
    try {
      // A fetch while running, so blobs, tmp and the WAL exist.
      expect((await fetch(`${n.url}/generic/up/b.txt`)).status).toBe(200)
      const entries = walk(dataDir)
      expect(statSync(dataDir).mode & 0o777).toBe(0o700)
      for (const name of ['metadata.db', 'metadata.db-wal', 'metadata.db-shm', 'node-key', 'secret-key', 'session-key.pem']) {
        expect(entries.some((e) => e.path === join(dataDir, name)), name).toBe(true)
      }
      expect(entries.some((e) => e.path.includes(`${join(dataDir, 'blobs')}/`) && !e.dir)).toBe(true)
      for (const e of entries) expect([e.path, e.mode.toString(8)]).toEqual([e.path, e.dir ? '700' : '600'])
    } finally {
      await n.stop()
    }
  })

  it('never prints the password: ak repo get / list, and the node log', async () => {
    const env = { AK_DATA_DIR: dataDir }
    const get = await runAk(['repo', 'get', 'up'], env)
    expect(get.code, get.stderr).toBe(0)
    expect(JSON.parse(get.stdout).settings.upstream).toEqual({ url: `${upstreamUrl}/files/`, username: USER, password: '********' })
    const list = await runAk(['repo', 'list', '--json'], env)
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout + get.stdout + list.stderr + get.stderr).not.toContain(SECRET)
    expect(list.stdout).not.toContain('ak-sealed:')
  })

  it('encrypts a plain-text password of an older data directory at the next start, which still authenticates with it', async () => {
    // What an older node left: the password in plain text in repositories.settings.
    const db = new Database(join(dataDir, 'metadata.db'))
    db.prepare("UPDATE repositories SET settings = json_set(settings, '$.upstream.password', ?) WHERE key = 'up'").run(LEGACY_SECRET)
    db.close()
    expect(filesContaining(dataDir, LEGACY_SECRET)).toEqual([join(dataDir, 'metadata.db')])

    const n = await start()
    const res = await fetch(`${n.url}/generic/up/legacy.txt`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('authenticated /files/legacy.txt\n')
    expect(filesContaining(dataDir, LEGACY_SECRET)).toEqual([])
    expect(await n.stop()).toBe(0)
    // Every stored byte, free pages of the database included (the migration vacuums it).
    expect(filesContaining(dataDir, LEGACY_SECRET)).toEqual([])
    const sealed = new Database(join(dataDir, 'metadata.db'), { readonly: true })
    const settings = JSON.parse((sealed.prepare("SELECT settings FROM repositories WHERE key = 'up'").get() as { settings: string }).settings)
    sealed.close()
    expect(settings.upstream.password).toMatch(/^ak-sealed:v1:/)
    expect(settings.upstream.username).toMatch(/^ak-sealed:v1:/)
  })

  it('exports a bundle without upstream secrets, sealed or not', async () => {
    const out = join(work, 'site.akb')
    const exported = await runAk(['export', '--out', out], { AK_DATA_DIR: dataDir })
    expect(exported.code, exported.stderr).toBe(0)
    const bundle = readFileSync(out)
    expect(bundle.includes(`${upstreamUrl}/files/`)).toBe(true) // the repository is in it
    for (const secret of [SECRET, LEGACY_SECRET, 'ak-sealed:', USER]) expect(bundle.includes(secret), secret).toBe(false)
  })

  it('refuses to start with another secret key rather than sending garbage upstream; AK_SECRET_KEY_FILE must exist', async () => {
    const keyFile = join(dataDir, 'secret-key')
    const original = readFileSync(keyFile)
    writeFileSync(keyFile, `${'ab'.repeat(32)}\n`, { mode: 0o600 })
    try {
      await expect(startNodeProcess({ dataDir, timeoutMs: 20_000 })).rejects.toThrow(/cannot decrypt with this node's secret key/)
    } finally {
      writeFileSync(keyFile, original, { mode: 0o600 })
    }
    await expect(startNodeProcess({ dataDir, env: { AK_SECRET_KEY_FILE: join(work, 'missing-key') }, timeoutMs: 20_000 })).rejects.toThrow(/secret key file .* does not exist/)
    // With the right key it starts and authenticates again.
    const n = await start()
    expect((await fetch(`${n.url}/generic/up/again.txt`)).status).toBe(200)
    await n.stop()
  })
})
