import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'
import { crateFile, publishBody, publishMetadata } from './crate-builder.ts'
import { cargo, requireCargo, writeCargoHome, writeCrate, type CargoEnv, type CargoResult } from './support.ts'

const hasCargo = requireCargo()

function ok(r: CargoResult): CargoResult {
  if (r.code !== 0) throw new Error(`cargo exited with ${r.code}:\n${r.stderr}\n${r.stdout}`)
  return r
}

describe.skipIf(!hasCargo)('cargo against a node (real cargo client)', () => {
  let node: NodeProcess
  let work: string
  let env: CargoEnv
  let token: string

  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${text}`)
    return JSON.parse(text) as Record<string, unknown>
  }
  /** Reads an index file the way cargo does: the raw token as Authorization. */
  const indexFile = async (repo: string, path: string) => {
    const r = await fetch(`${node.url}/cargo/${repo}/index/${path}`, { headers: { authorization: token } })
    return { status: r.status, lines: r.status === 200 ? (await r.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : [] }
  }

  beforeAll(async () => {
    node = await startNodeProcess()
    work = tempDir('ak-cargo-')
    env = { home: join(work, 'cargo-home'), target: join(work, 'target') }
    await api('POST', '/api/v1/repositories', { key: 'crates', format: 'cargo', type: 'local' })
    await api('POST', '/api/v1/repositories', { key: 'crates-team', format: 'cargo', type: 'local' })
    await api('POST', '/api/v1/repositories', {
      key: 'crates-all',
      format: 'cargo',
      type: 'virtual',
      settings: { members: ['crates-team', 'crates'], defaultDeployRepo: 'crates-team' },
    })
    token = (await api('POST', '/api/v1/tokens', { name: 'cargo e2e' })).token as string
    writeCargoHome(env, {
      ak: { index: `${node.url}/cargo/crates/index/`, token },
      akv: { index: `${node.url}/cargo/crates-all/index/`, token },
    })
  })

  afterAll(async () => {
    await node?.stop()
    if (node) rmSync(node.dataDir, { recursive: true, force: true })
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('serves config.json with dl, api and auth-required, and asks anonymous callers to authenticate', async () => {
    const anon = await fetch(`${node.url}/cargo/crates/index/config.json`)
    expect(anon.status).toBe(401)
    expect(anon.headers.get('www-authenticate')).toMatch(/^Cargo/)
    expect(await anon.json()).toEqual({ errors: [{ detail: expect.stringMatching(/authentication required/) }] })
    const r = await fetch(`${node.url}/cargo/crates/index/config.json`, { headers: { authorization: token } })
    expect(await r.json()).toEqual({ dl: `${node.url}/cargo/crates/api/v1/crates`, api: `${node.url}/cargo/crates`, 'auth-required': true })
  })

  it('publishes a crate with cargo publish and indexes it with the checksum of the .crate', async () => {
    const dir = writeCrate(work, {
      name: 'ak_alpha',
      version: '0.1.0',
      source: 'pub fn answer() -> u32 { 42 }\n',
    })
    const r = ok(await cargo(env, dir, ['publish', '--registry', 'ak', '--allow-dirty', '--no-verify']))
    expect(r.stderr).toMatch(/Published ak_alpha v0\.1\.0 at registry `ak`/)
    const { status, lines } = await indexFile('crates', 'ak/_a/ak_alpha')
    expect(status).toBe(200)
    expect(lines).toEqual([
      { name: 'ak_alpha', vers: '0.1.0', deps: [], cksum: expect.stringMatching(/^[a-f0-9]{64}$/), features: {}, yanked: false, links: null },
    ])
    // cargo checks this checksum on every download; it must be the sha256 of the served bytes.
    const dl = await fetch(`${node.url}/cargo/crates/api/v1/crates/ak_alpha/0.1.0/download`, { headers: { authorization: token } })
    expect(dl.status).toBe(200)
    const bytes = Buffer.from(await dl.arrayBuffer())
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
    expect(lines[0]?.cksum).toBe(createHash('sha256').update(bytes).digest('hex'))
  })

  it('answers index revalidation with 304 Not Modified', async () => {
    const first = await fetch(`${node.url}/cargo/crates/index/ak/_a/ak_alpha`, { headers: { authorization: token } })
    const etag = first.headers.get('etag') as string
    expect(etag).toMatch(/^"[a-f0-9]{64}"$/)
    expect(first.headers.get('last-modified')).toBeTruthy()
    const again = await fetch(`${node.url}/cargo/crates/index/ak/_a/ak_alpha`, { headers: { authorization: token, 'if-none-match': etag } })
    expect(again.status).toBe(304)
  })

  it('publishes a dependent crate with verification, resolving the dependency through the node', async () => {
    const dir = writeCrate(work, {
      name: 'ak-beta',
      version: '0.2.0',
      deps: ['ak_alpha = { version = "0.1", registry = "ak" }'],
      source: 'pub fn doubled() -> u32 { ak_alpha::answer() * 2 }\n',
    })
    ok(await cargo(env, dir, ['publish', '--registry', 'ak', '--allow-dirty']))
    const { lines } = await indexFile('crates', 'ak/-b/ak-beta')
    expect(lines[0]?.deps).toEqual([
      { name: 'ak_alpha', req: '^0.1', features: [], optional: false, default_features: true, target: null, kind: 'normal' },
    ])
  })

  it('builds and runs a crate that depends on the published crates', async () => {
    const dir = writeCrate(work, {
      name: 'ak-app',
      version: '1.0.0',
      deps: ['ak-beta = { version = "0.2", registry = "ak" }', 'alpha = { package = "ak_alpha", version = "0.1", registry = "ak" }'],
      source: 'fn main() { println!("{} {}", ak_beta::doubled(), alpha::answer()); }\n',
      bin: true,
    })
    const r = ok(await cargo(env, dir, ['run', '--quiet']))
    expect(r.stdout.trim()).toBe('84 42')
  })

  it('refuses to publish a version again: cargo stops at the index, the node refuses the upload itself', async () => {
    const dir = writeCrate(work, { name: 'ak_alpha', version: '0.1.0', source: 'pub fn answer() -> u32 { 7 }\n' })
    const r = await cargo(env, dir, ['publish', '--registry', 'ak', '--allow-dirty', '--no-verify'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/crate ak_alpha@0\.1\.0 already exists on `ak` index/)
    // A client that does not look first gets cargo's error JSON from the publish endpoint.
    const crate = await crateFile('ak_alpha', '0.1.0')
    const put = await fetch(`${node.url}/cargo/crates/api/v1/crates/new`, {
      method: 'PUT',
      headers: { authorization: token },
      body: publishBody(publishMetadata('ak_alpha', '0.1.0'), crate),
    })
    expect(put.status).toBe(409)
    expect(await put.json()).toEqual({ errors: [{ detail: 'crate version `0.1.0` is already uploaded' }] })
    const { lines } = await indexFile('crates', 'ak/_a/ak_alpha')
    expect(lines).toHaveLength(1)
  })

  it('refuses a name that differs from a published crate only in case or - versus _', async () => {
    const dir = writeCrate(work, { name: 'ak-alpha', version: '0.9.0', source: 'pub fn x() {}\n' })
    const r = await cargo(env, dir, ['publish', '--registry', 'ak', '--allow-dirty', '--no-verify'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/conflicts with the existing crate `ak_alpha`/)
  })

  it('yanks and unyanks a version with cargo yank', async () => {
    ok(await cargo(env, work, ['yank', '--registry', 'ak', '--version', '0.1.0', 'ak_alpha']))
    expect((await indexFile('crates', 'ak/_a/ak_alpha')).lines[0]?.yanked).toBe(true)
    ok(await cargo(env, work, ['yank', '--registry', 'ak', '--version', '0.1.0', '--undo', 'ak_alpha']))
    expect((await indexFile('crates', 'ak/_a/ak_alpha')).lines[0]?.yanked).toBe(false)
  })

  it('lists the owners of a crate with cargo owner --list', async () => {
    const r = ok(await cargo(env, work, ['owner', '--list', '--registry', 'ak', 'ak_alpha']))
    expect(r.stdout).toMatch(/^admin/m)
  })

  it('refuses cargo owner --add with an error cargo prints', async () => {
    const r = await cargo(env, work, ['owner', '--add', 'someone', '--registry', 'ak', 'ak_alpha'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/repository permissions/)
  })

  it('finds crates with cargo search', async () => {
    const r = ok(await cargo(env, work, ['search', '--registry', 'ak', 'ak']))
    expect(r.stdout).toMatch(/ak_alpha = "0\.1\.0"/)
    expect(r.stdout).toMatch(/ak-beta = "0\.2\.0"/)
  })

  it('publishes through a virtual repository to its deploy member and builds from the merged index', async () => {
    const lib = writeCrate(work, { name: 'ak-gamma', version: '0.3.0', source: 'pub fn g() -> u32 { 3 }\n' })
    ok(await cargo(env, lib, ['publish', '--registry', 'akv', '--allow-dirty', '--no-verify']))
    expect((await indexFile('crates-team', 'ak/-g/ak-gamma')).status).toBe(200)
    expect((await indexFile('crates', 'ak/-g/ak-gamma')).status).toBe(404)
    const dir = writeCrate(work, {
      name: 'ak-virtual-app',
      version: '1.0.0',
      deps: ['ak-gamma = { version = "0.3", registry = "akv" }', 'ak_alpha = { version = "0.1", registry = "akv" }'],
      source: 'fn main() { println!("{}", ak_gamma::g() + ak_alpha::answer()); }\n',
      bin: true,
    })
    const r = ok(await cargo(env, dir, ['run', '--quiet']))
    expect(r.stdout.trim()).toBe('45')
  })

  it('merges a virtual index with the first member winning a version', async () => {
    // The same version in both members (put straight into crates-team, as cargo would refuse
    // it through the merged index): crates-team is first, so its checksum is served.
    const put = await fetch(`${node.url}/cargo/crates-team/api/v1/crates/new`, {
      method: 'PUT',
      headers: { authorization: token },
      body: publishBody(publishMetadata('ak_alpha', '0.1.0'), await crateFile('ak_alpha', '0.1.0')),
    })
    expect(put.status).toBe(200)
    const team = (await indexFile('crates-team', 'ak/_a/ak_alpha')).lines
    const merged = (await indexFile('crates-all', 'ak/_a/ak_alpha')).lines
    expect(merged).toHaveLength(1)
    expect(merged[0]?.cksum).toBe(team[0]?.cksum)
    expect(merged[0]?.cksum).not.toBe((await indexFile('crates', 'ak/_a/ak_alpha')).lines[0]?.cksum)
    const dl = await fetch(`${node.url}/cargo/crates-all/api/v1/crates/ak_alpha/0.1.0/download`, { headers: { authorization: token } })
    expect(createHash('sha256').update(Buffer.from(await dl.arrayBuffer())).digest('hex')).toBe(team[0]?.cksum)
  })
})
