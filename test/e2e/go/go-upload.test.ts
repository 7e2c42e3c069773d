import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { buildZip, libraryModule, lieAboutSizes, moduleZip, patchBytes } from './module-zips.ts'
import { createGoRepo, enc, proxyGet, uploadModule } from './support.ts'

/**
 * The upload API (PUT /go/{repo}/{module}/@v/{version}.zip) and the GOPROXY answers around it,
 * over real HTTP against a real node process: immutability, every family of bad input, limits
 * and auth. Nothing here needs the go command.
 */
describe('go: module upload and GOPROXY answers', () => {
  let node: NodeProcess

  beforeAll(async () => {
    node = await startNodeProcess()
    await createGoRepo(node, 'mods')
    await createGoRepo(node, 'tiny', { settings: { maxUploadBytes: 2048 } })
  })
  afterAll(async () => {
    await node?.stop()
  })

  /** Nothing of module@version is visible: no list entry, no .info, .mod or .zip. */
  const expectNothingStored = async (module: string, version: string) => {
    for (const f of ['info', 'mod', 'zip']) {
      expect((await proxyGet(node, 'mods', `${enc(module)}/@v/${enc(version)}.${f}`)).status, f).toBe(404)
    }
    const list = await proxyGet(node, 'mods', `${enc(module)}/@v/list`)
    if (list.status === 200) expect((await list.text()).split('\n')).not.toContain(version)
    else expect(list.status).toBe(404)
  }

  /** Upload must be refused with `status` and a plain-text message matching `message`. */
  const expectRefused = async (res: Response, status: number, message: RegExp) => {
    const text = await res.text()
    expect(res.status, text).toBe(status)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(text).toMatch(message)
  }

  it('stores an uploaded version and serves list, info, mod and zip generated from it', async () => {
    const zip = await libraryModule('example.com/served', 'v1.4.0', 'served')
    const res = await uploadModule(node, 'mods', 'example.com/served', 'v1.4.0', zip)
    expect(res.status).toBe(201)
    const body = (await res.json()) as { version: string; sha256: string; time: string }
    expect(body.sha256).toBe(createHash('sha256').update(zip).digest('hex'))

    expect(await (await proxyGet(node, 'mods', 'example.com/served/@v/list')).text()).toBe('v1.4.0\n')
    const info = await proxyGet(node, 'mods', 'example.com/served/@v/v1.4.0.info')
    expect(await info.json()).toEqual({ Version: 'v1.4.0', Time: body.time })
    expect(await (await proxyGet(node, 'mods', 'example.com/served/@v/v1.4.0.mod')).text()).toBe('module example.com/served\n\ngo 1.19\n')
    const served = await proxyGet(node, 'mods', 'example.com/served/@v/v1.4.0.zip')
    expect(served.headers.get('content-type')).toBe('application/zip')
    expect(Buffer.from(await served.arrayBuffer()).equals(zip)).toBe(true)
    expect(await (await proxyGet(node, 'mods', 'example.com/served/@latest')).json()).toEqual({ Version: 'v1.4.0', Time: body.time })
  })

  it('serves a synthesized go.mod for a module zip without one', async () => {
    const zip = await moduleZip('example.com/nomod', 'v0.1.0', { 'a.go': 'package nomod\n' })
    expect((await uploadModule(node, 'mods', 'example.com/nomod', 'v0.1.0', zip)).status).toBe(201)
    expect(await (await proxyGet(node, 'mods', 'example.com/nomod/@v/v0.1.0.mod')).text()).toBe('module example.com/nomod\n')
  })

  it('accepts the same bytes again and refuses different bytes for a stored version with 409', async () => {
    const zip = await libraryModule('example.com/immutable', 'v1.0.0', 'first')
    expect((await uploadModule(node, 'mods', 'example.com/immutable', 'v1.0.0', zip)).status).toBe(201)
    expect((await uploadModule(node, 'mods', 'example.com/immutable', 'v1.0.0', zip)).status).toBe(200)
    const other = await libraryModule('example.com/immutable', 'v1.0.0', 'second')
    await expectRefused(await uploadModule(node, 'mods', 'example.com/immutable', 'v1.0.0', other), 409, /immutable/)
    const served = await proxyGet(node, 'mods', 'example.com/immutable/@v/v1.0.0.zip')
    expect(Buffer.from(await served.arrayBuffer()).equals(zip)).toBe(true)
  })

  it('lists releases and pre-releases in semver order and leaves pseudo-versions out', async () => {
    const m = 'example.com/ordered'
    for (const v of ['v1.10.0', 'v1.2.0', 'v1.2.0-rc.1', 'v0.0.0-20240101000000-abcdefabcdef']) {
      expect((await uploadModule(node, 'mods', m, v, await libraryModule(m, v, v))).status, v).toBe(201)
    }
    expect(await (await proxyGet(node, 'mods', `${m}/@v/list`)).text()).toBe('v1.2.0-rc.1\nv1.2.0\nv1.10.0\n')
  })

  it('answers 404 in plain text for unknown modules, versions and non-canonical revisions', async () => {
    for (const p of ['example.com/unknown/@v/list', 'example.com/unknown/@latest', 'example.com/served/@v/v9.0.0.info', 'example.com/served/@v/master.info']) {
      const res = await proxyGet(node, 'mods', p)
      expect(res.status, p).toBe(404)
      expect(res.headers.get('content-type'), p).toMatch(/^text\/plain/)
    }
    expect((await proxyGet(node, 'nosuchrepo', 'example.com/x/@v/list')).status).toBe(404)
  })

  it('refuses bodies that are not zips, and zips whose entries break the module zip rules', async () => {
    const m = 'example.com/bad'
    const v = 'v1.0.0'
    const p = `${m}@${v}/`
    const cases: [string, Buffer, RegExp][] = [
      ['not a zip', Buffer.from('definitely not a zip archive, just some text'), /not a readable zip/],
      ['wrong prefix', await buildZip([{ name: 'example.com/other@v1.0.0/a.go', data: 'package a\n' }]), /prefix/],
      ['path traversal', patchBytes(await moduleZip(m, v, { 'XX/evil.go': 'x' }), 'XX/evil', '../evil'), /invalid relative path|not clean/],
      ['case collision', await moduleZip(m, v, { 'a.go': 'x', 'A.go': 'y' }), /case-insensitive/],
      ['duplicate file', await buildZip([{ name: `${p}a.go`, data: '1' }, { name: `${p}a.go`, data: '2' }]), /multiple entries/],
      ['nested module', await moduleZip(m, v, { 'go.mod': `module ${m}\n`, 'sub/go.mod': `module ${m}/sub\n` }), /not in module root/],
      ['vendored package', await moduleZip(m, v, { 'vendor/example.org/x/x.go': 'package x\n' }), /vendored/],
      ['go.mod of another module', await moduleZip(m, v, { 'go.mod': 'module example.com/other\n' }), /declares its path/],
      ['go.mod without module', await moduleZip(m, v, { 'go.mod': 'go 1.19\n' }), /no valid module directive/],
      ['bad file name', await moduleZip(m, v, { 'a:b.go': 'x' }), /malformed file path/],
      ['decompression bomb', lieAboutSizes(await moduleZip(m, v, { 'bomb.bin': Buffer.alloc(16 * 1024 * 1024) }), 1000), /cannot be decompressed/],
    ]
    for (const [what, zip, message] of cases) {
      await expectRefused(await uploadModule(node, 'mods', m, v, zip), 400, message)
      await expectNothingStored(m, v)
      void what
    }
  })

  it('refuses versions that are not canonical or do not match the module path', async () => {
    const zipFor = (m: string, v: string, files: Record<string, string> = { 'a.go': 'package a\n' }) => moduleZip(m, v, files)
    await expectRefused(await uploadModule(node, 'mods', 'example.com/v', 'v1.0', await zipFor('example.com/v', 'v1.0')), 400, /canonical/)
    await expectRefused(await uploadModule(node, 'mods', 'example.com/v', 'v1.0.0+meta', await zipFor('example.com/v', 'v1.0.0+meta')), 400, /build metadata/)
    await expectRefused(await uploadModule(node, 'mods', 'example.com/v', 'v2.0.0', await zipFor('example.com/v', 'v2.0.0')), 400, /should be v0 or v1/)
    await expectRefused(await uploadModule(node, 'mods', 'example.com/v/v2', 'v3.0.0', await zipFor('example.com/v/v2', 'v3.0.0')), 400, /should be v2/)
    const incompatible = await zipFor('example.com/v', 'v2.0.0+incompatible', { 'go.mod': 'module example.com/v\n' })
    await expectRefused(await uploadModule(node, 'mods', 'example.com/v', 'v2.0.0+incompatible', incompatible), 400, /incompatible/)
    const ok = await zipFor('example.com/v', 'v2.0.0+incompatible')
    expect((await uploadModule(node, 'mods', 'example.com/v', 'v2.0.0+incompatible', ok)).status).toBe(201)
    expect((await uploadModule(node, 'mods', 'example.com/v/v2', 'v2.1.0', await zipFor('example.com/v/v2', 'v2.1.0'))).status).toBe(201)
  })

  it('refuses module paths that break the module path rules', async () => {
    for (const path of ['nodot/@v/v1.0.0.zip', 'example.com/a%20b/@v/v1.0.0.zip', 'example.com/.hidden/@v/v1.0.0.zip', 'example.com/x/v1/@v/v1.0.0.zip', 'example.com/Caps/@v/v1.0.0.zip']) {
      const res = await fetch(`${node.url}/go/mods/${path}`, { method: 'PUT', headers: { authorization: node.adminAuth }, body: 'x' })
      expect(res.status, path).toBe(400)
      expect(await res.text(), path).toMatch(/module path/)
    }
  })

  it('refuses oversize bodies with 413 and wrong announced digests with 400, storing nothing', async () => {
    const big = await moduleZip('example.com/big', 'v1.0.0', { 'data.bin': randomBytes(4096) })
    expect(big.length).toBeGreaterThan(2048)
    await expectRefused(await uploadModule(node, 'tiny', 'example.com/big', 'v1.0.0', big), 413, /exceeds|maximum/)
    const zip = await libraryModule('example.com/digest', 'v1.0.0', 'x')
    const res = await fetch(`${node.url}/go/mods/example.com/digest/@v/v1.0.0.zip`, {
      method: 'PUT',
      headers: { authorization: node.adminAuth, 'x-checksum-sha256': '0'.repeat(64) },
      body: zip,
    })
    await expectRefused(res, 400, /sha256/)
    await expectNothingStored('example.com/digest', 'v1.0.0')
  })

  it('asks anonymous callers for Basic credentials (401) on a private repository', async () => {
    const zip = await libraryModule('example.com/anon', 'v1.0.0', 'x')
    const res = await uploadModule(node, 'mods', 'example.com/anon', 'v1.0.0', zip, null)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /)
    expect((await proxyGet(node, 'mods', 'example.com/served/@v/list', null)).status).toBe(401)
  })

  it('deletes a version (zip and mod) so that it is no longer served', async () => {
    const zip = await libraryModule('example.com/gone', 'v1.0.0', 'x')
    expect((await uploadModule(node, 'mods', 'example.com/gone', 'v1.0.0', zip)).status).toBe(201)
    const url = `${node.url}/go/mods/example.com/gone/@v/v1.0.0.zip`
    expect((await fetch(url, { method: 'DELETE', headers: { authorization: node.adminAuth } })).status).toBe(204)
    await expectNothingStored('example.com/gone', 'v1.0.0')
    expect((await fetch(url, { method: 'DELETE', headers: { authorization: node.adminAuth } })).status).toBe(404)
  })
})
