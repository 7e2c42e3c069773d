import { createHash } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { downloadUrl, rewriteIndexFile } from '../../../formats/cargo/index.ts'
import { ADMIN_PASSWORD, startNodeProcess, tempDir, type NodeProcess } from '../../helpers/node-process.ts'
import { startCountingProxy, type CountingProxy } from '../../formats/remote/index.ts'
import { cargo, requireCargo, writeCargoHome, writeCrate, type CargoEnv, type CargoResult } from '../cargo/support.ts'

/*
 * The real cargo through a remote repository: an UPSTREAM node process with a local cargo
 * repository (two crates published with cargo publish, one depending on the other), a counting
 * proxy in front of it, and an EDGE node process whose public remote repository proxies the
 * upstream's sparse index. A binary crate depending on them builds and runs through the edge.
 */

const hasCargo = requireCargo()

function ok(r: CargoResult): CargoResult {
  if (r.code !== 0) throw new Error(`cargo exited with ${r.code}:\n${r.stderr}\n${r.stdout}`)
  return r
}

describe.skipIf(!hasCargo)('cargo through a cargo remote repository', () => {
  let upstream: NodeProcess
  let edge: NodeProcess
  let proxy: CountingProxy
  let work: string
  let edgeIndex: string

  const api = async (node: NodeProcess, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${text}`)
    return JSON.parse(text) as Record<string, unknown>
  }

  /** A CARGO_HOME of its own (own download cache) whose `edge` registry is the remote repository. */
  const consumerEnv = (name: string): CargoEnv => {
    const env = { home: join(work, `${name}-home`), target: join(work, `${name}-target`) }
    writeCargoHome(env, { edge: { index: edgeIndex, token: 'unused: the edge repository is public' } })
    return env
  }

  const app = (name: string) =>
    writeCrate(join(work, name), {
      name: 'ak-remote-app',
      version: '0.1.0',
      bin: true,
      deps: ['ak-rlib = { version = "0.2", registry = "edge" }'],
      source: 'fn main() { println!("answer {}", ak_rlib::doubled()); }\n',
    })

  beforeAll(async () => {
    work = tempDir('ak-cargo-remote-')
    upstream = await startNodeProcess()
    proxy = await startCountingProxy(upstream.url)
    edge = await startNodeProcess()
    await api(upstream, 'POST', '/api/v1/repositories', { key: 'crates', format: 'cargo', type: 'local' })
    const token = (await api(upstream, 'POST', '/api/v1/tokens', { name: 'cargo remote e2e' })).token as string
    await api(edge, 'POST', '/api/v1/repositories', {
      key: 'crates-remote',
      format: 'cargo',
      type: 'remote',
      public: true,
      upstream: { url: `${proxy.url}/cargo/crates/index`, username: 'admin', password: ADMIN_PASSWORD },
      settings: { metadataTtlMs: 0 },
    })
    edgeIndex = `${edge.url}/cargo/crates-remote/index/`

    const publisher = { home: join(work, 'publisher-home'), target: join(work, 'publisher-target') }
    writeCargoHome(publisher, { up: { index: `${upstream.url}/cargo/crates/index/`, token } })
    const dep = writeCrate(work, { name: 'ak_rdep', version: '0.1.0', source: 'pub fn answer() -> u32 { 21 }\n' })
    ok(await cargo(publisher, dep, ['publish', '--registry', 'up', '--allow-dirty', '--no-verify']))
    const lib = writeCrate(work, {
      name: 'ak-rlib',
      version: '0.2.0',
      deps: ['ak_rdep = { version = "0.1", registry = "up" }'],
      source: 'pub fn doubled() -> u32 { ak_rdep::answer() * 2 }\n',
    })
    ok(await cargo(publisher, lib, ['publish', '--registry', 'up', '--allow-dirty', '--no-verify']))
  }, 300_000)

  afterAll(async () => {
    await edge?.stop()
    await upstream?.stop()
    await proxy?.close()
    if (work) rmSync(work, { recursive: true, force: true })
  })

  it('serves a config.json whose dl and api point at the edge', async () => {
    const config = await (await fetch(`${edgeIndex}config.json`)).json()
    expect(config).toEqual({ dl: `${edge.url}/cargo/crates-remote/api/v1/crates`, api: `${edge.url}/cargo/crates-remote`, 'auth-required': false })
  })

  it('builds and runs a crate whose dependencies resolve and download only through the edge', async () => {
    const env = consumerEnv('first')
    const r = ok(await cargo(env, app('first'), ['run', '-q'], 300_000))
    expect(r.stdout.trim()).toBe('answer 42')
    expect(proxy.count('/api/v1/crates/ak-rlib/0.2.0/download')).toBe(1)
    expect(proxy.count('/api/v1/crates/ak_rdep/0.1.0/download')).toBe(1)
    // The cached .crate is served as a HIT and is exactly what the index's cksum names.
    const dl = await fetch(`${edge.url}/cargo/crates-remote/api/v1/crates/ak-rlib/0.2.0/download`)
    expect(dl.headers.get('x-ak-cache')).toBe('HIT')
    const bytes = Buffer.from(await dl.arrayBuffer())
    const line = JSON.parse((await (await fetch(`${edgeIndex}ak/-r/ak-rlib`)).text()).trim()) as { cksum: string }
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(line.cksum)
    expect(proxy.count('/api/v1/crates/ak-rlib/0.2.0/download')).toBe(1)
  })

  it('revalidates index files upstream with a conditional request and answers cargo 304 itself', async () => {
    const first = await fetch(`${edgeIndex}ak/-r/ak-rlib`)
    expect(first.status).toBe(200)
    const etag = first.headers.get('etag') as string
    await first.text()
    const again = await fetch(`${edgeIndex}ak/-r/ak-rlib`, { headers: { 'if-none-match': etag } })
    expect(again.status).toBe(304)
    expect(again.headers.get('x-ak-cache')).toBe('REVALIDATED')
    const seen = proxy.seen.filter((s) => s.url === '/cargo/crates/index/ak/-r/ak-rlib')
    expect(seen[seen.length - 1]?.status).toBe(304)
    expect(seen[seen.length - 1]?.headers['if-none-match']).toBeTruthy()
  })

  it('answers 404 for a crate the upstream does not have, remembered for a while', async () => {
    expect((await fetch(`${edgeIndex}ak/-n/ak-nothing`)).status).toBe(404)
    expect((await fetch(`${edgeIndex}ak/-n/ak-nothing`)).status).toBe(404)
    expect(proxy.count('/index/ak/-n/ak-nothing')).toBe(1)
  })

  it('with the upstream stopped, a fresh cargo home still builds from the cache; index files are served stale with a warning', async () => {
    await upstream.stop()
    const res = await fetch(`${edgeIndex}ak/-r/ak-rlib`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ak-cache')).toBe('STALE')
    expect(res.headers.get('warning')).toBe('110 - "Response is Stale"')
    await res.text()
    const r = ok(await cargo(consumerEnv('offline'), app('offline'), ['run', '-q'], 300_000))
    expect(r.stdout.trim()).toBe('answer 42')
    const never = await fetch(`${edgeIndex}ak/-x/ak-xnever`)
    expect(never.status).toBe(502)
  })
})

describe('cargo remote: download URLs and index rewriting', () => {
  it('fills the dl markers of the upstream config, or appends /{crate}/{version}/download without any', () => {
    expect(downloadUrl('https://static.example/crates', 'Serde_json', '1.0.0', 'ab')).toBe('https://static.example/crates/Serde_json/1.0.0/download')
    expect(downloadUrl('https://dl.example/{prefix}/{lowerprefix}/{crate}-{version}.crate?sum={sha256-checksum}', 'Serde', '1.2.3', 'ff')).toBe(
      'https://dl.example/Se/rd/se/rd/Serde-1.2.3.crate?sum=ff',
    )
    expect(downloadUrl('https://dl.example/{prefix}/{crate}', 'abc', '0.1.0', '')).toBe('https://dl.example/3/a/abc')
  })

  it('points dependencies on the upstream registry at this one and leaves others alone', () => {
    const line = (registry: string | null) => JSON.stringify({ name: 'a', vers: '1.0.0', cksum: 'x', deps: [{ name: 'b', registry }] })
    const body = `${line('sparse+https://up.example/index/')}\n${line(null)}\n${line('https://github.com/rust-lang/crates.io-index')}\n`
    const out = rewriteIndexFile(body, 'https://up.example/index', 'sparse+http://edge/cargo/r/index/')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { deps: { registry: string | null }[] }).deps[0]?.registry)
    expect(out).toEqual(['sparse+http://edge/cargo/r/index/', null, 'https://github.com/rust-lang/crates.io-index'])
    expect(rewriteIndexFile(line(null), 'https://up.example/index', 'x')).toBe(line(null))
  })
})
