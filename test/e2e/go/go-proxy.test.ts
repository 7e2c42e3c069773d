import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { libraryModule, moduleZip } from './module-zips.ts'
import { GoSandbox } from './go-client.ts'
import { startTlsFront, type TlsFront } from './tls-front.ts'
import { ADMIN_PASSWORD, createGoRepo, enc, proxyGet, uploadModule } from './support.ts'

interface Download {
  Path: string
  Version: string
  Sum?: string
  GoModSum?: string
  Zip?: string
  Error?: string
}

const HELLO = 'example.com/hello'
const PSEUDO = 'v0.0.0-20240102030405-abcdefabcdef'

/** The real go command (Debian's 1.19) against a real node process through GOPROXY. */
describe('go: the go command resolves, downloads and builds modules through a node', () => {
  // openssl makes the certificate of the HTTPS front (the go command sends credentials only over https).
  const hasGo = requireClient('go', 'apt-get install -y golang-go', ['version']) && requireClient('openssl', 'apt-get install -y openssl', ['version'])
  let node: NodeProcess
  let tls: TlsFront
  let host: string
  /** go.sum lines the node reported at upload, by "module@version". */
  const sums = new Map<string, string[]>()
  const sandboxes: GoSandbox[] = []

  /**
   * A sandbox whose GOPROXY is the node behind HTTPS (the go command sends credentials only over
   * https), with the admin credentials as URL userinfo unless `withCredentials` is false.
   */
  const sandbox = (repo: string, withCredentials = true) => {
    const creds = withCredentials ? `admin:${ADMIN_PASSWORD}@` : ''
    const s = new GoSandbox(`https://${creds}${host}/go/${repo}`, { SSL_CERT_FILE: tls.certFile })
    sandboxes.push(s)
    return s
  }

  const upload = async (repo: string, module: string, version: string, zip: Buffer) => {
    const res = await uploadModule(node, repo, module, version, zip)
    const text = await res.text()
    expect(res.status, text).toBe(201)
    sums.set(`${module}@${version}`, (JSON.parse(text) as { sum: string[] }).sum)
  }

  const download = async (s: GoSandbox, query: string): Promise<{ code: number | null; json: Download; stderr: string }> => {
    const r = await s.run(['mod', 'download', '-json', query])
    return { code: r.code, json: JSON.parse(r.stdout || '{}') as Download, stderr: r.stderr }
  }

  beforeAll(async () => {
    if (!hasGo) return
    node = await startNodeProcess()
    tls = await startTlsFront(node.url)
    host = new URL(tls.url).host
    await createGoRepo(node, 'go-local')
    await createGoRepo(node, 'go-team')
    await createGoRepo(node, 'go-all', { type: 'virtual', members: ['go-team', 'go-local'], defaultDeployRepo: 'go-local' })
    await upload('go-local', HELLO, 'v1.0.0', await libraryModule(HELLO, 'v1.0.0', 'hello from v1.0.0'))
    await upload('go-local', HELLO, 'v1.1.0', await libraryModule(HELLO, 'v1.1.0', 'hello from v1.1.0'))
    await upload('go-local', HELLO, 'v1.2.0-rc.1', await libraryModule(HELLO, 'v1.2.0-rc.1', 'hello from rc'))
    await upload('go-local', 'example.com/Upper/Mod', 'v0.1.0', await libraryModule('example.com/Upper/Mod', 'v0.1.0', 'upper'))
    await upload('go-local', 'example.com/pseudo', PSEUDO, await libraryModule('example.com/pseudo', PSEUDO, 'pseudo'))
  })

  afterAll(async () => {
    for (const s of sandboxes) s.remove()
    await tls?.close()
    await node?.stop()
  })

  it.skipIf(!hasGo)('downloads an uploaded version (info, mod, zip) and verifies the go.sum hashes the node reported', async () => {
    const s = sandbox('go-local')
    const { code, json, stderr } = await download(s, `${HELLO}@v1.0.0`)
    expect(code, stderr + JSON.stringify(json)).toBe(0)
    expect(json).toMatchObject({ Path: HELLO, Version: 'v1.0.0' })
    // The go command computed these from the bytes it downloaded; the node computed them at upload.
    expect([`${HELLO} v1.0.0 ${json.Sum}`, `${HELLO} v1.0.0/go.mod ${json.GoModSum}`]).toEqual(sums.get(`${HELLO}@v1.0.0`))
  })

  it.skipIf(!hasGo)('builds a main module that requires an uploaded module (credentials from ~/.netrc)', async () => {
    const s = sandbox('go-local', false)
    s.netrc('127.0.0.1', 'admin', ADMIN_PASSWORD)
    const dir = s.project('app', {
      'go.mod': `module example.com/app\n\ngo 1.19\n\nrequire ${HELLO} v1.1.0\n`,
      'main.go': `package main\n\nimport (\n\t"fmt"\n\n\t"${HELLO}"\n)\n\nfunc main() { fmt.Println(hello.Greeting()) }\n`,
    })
    const build = await s.run(['build', '-o', 'app', '.'], { cwd: dir })
    expect(build.code, build.stderr).toBe(0)
    expect(execFileSync(join(dir, 'app'), { timeout: 10_000 }).toString().trim()).toBe('hello from v1.1.0')
    const goSum = execFileSync('cat', [join(dir, 'go.sum')]).toString().trim().split('\n')
    expect(goSum.sort()).toEqual([...sums.get(`${HELLO}@v1.1.0`)!].sort())
  })

  it.skipIf(!hasGo)('resolves @latest to the highest release, and through the @latest endpoint when only pseudo-versions exist', async () => {
    const s = sandbox('go-local')
    const latest = await download(s, `${HELLO}@latest`)
    expect(latest.code, latest.stderr).toBe(0)
    expect(latest.json.Version).toBe('v1.1.0')
    const list = await proxyGet(node, 'go-local', `${HELLO}/@v/list`)
    expect((await list.text()).split('\n').filter(Boolean)).toEqual(['v1.0.0', 'v1.1.0', 'v1.2.0-rc.1'])
    const pseudo = await download(s, 'example.com/pseudo@latest')
    expect(pseudo.code, pseudo.stderr + JSON.stringify(pseudo.json)).toBe(0)
    expect(pseudo.json.Version).toBe(PSEUDO)
  })

  it.skipIf(!hasGo)('carries module paths with upper-case letters case-encoded', async () => {
    const s = sandbox('go-local')
    const { code, json, stderr } = await download(s, 'example.com/Upper/Mod@v0.1.0')
    expect(code, stderr).toBe(0)
    expect(json).toMatchObject({ Path: 'example.com/Upper/Mod', Version: 'v0.1.0' })
    expect(json.Zip).toContain(join('cache', 'download', 'example.com', '!upper', '!mod', '@v', 'v0.1.0.zip'))
    // The raw capitals are not a valid encoding.
    expect((await proxyGet(node, 'go-local', 'example.com/Upper/Mod/@v/list')).status).toBe(400)
  })

  it.skipIf(!hasGo)('reads through a virtual repository: merged list, first member wins, uploads land in the deploy member', async () => {
    // Same version in both members with different content: the first member (go-team) wins.
    await upload('go-team', HELLO, 'v1.0.0', await libraryModule(HELLO, 'v1.0.0', 'team edition'))
    await upload('go-team', HELLO, 'v1.3.0', await libraryModule(HELLO, 'v1.3.0', 'hello from team v1.3.0'))
    const viaVirtual = await uploadModule(node, 'go-all', 'example.com/viavirtual', 'v1.0.0',
      await moduleZip('example.com/viavirtual', 'v1.0.0', { 'go.mod': 'module example.com/viavirtual\n', 'v.go': 'package viavirtual\n' }))
    expect(viaVirtual.status).toBe(201)
    expect(((await viaVirtual.json()) as { repo: string }).repo).toBe('go-local')
    expect((await proxyGet(node, 'go-local', 'example.com/viavirtual/@v/v1.0.0.info')).status).toBe(200)

    const list = await proxyGet(node, 'go-all', `${enc(HELLO)}/@v/list`)
    expect((await list.text()).split('\n').filter(Boolean)).toEqual(['v1.0.0', 'v1.1.0', 'v1.2.0-rc.1', 'v1.3.0'])

    const s = sandbox('go-all')
    const first = await download(s, `${HELLO}@v1.0.0`)
    expect(first.code, first.stderr).toBe(0)
    expect(`${HELLO} v1.0.0 ${first.json.Sum}`).toBe(sums.get(`${HELLO}@v1.0.0`)![0]) // go-team's upload replaced the map entry
    const fromLocal = await download(s, `${HELLO}@v1.1.0`)
    expect(fromLocal.code, fromLocal.stderr).toBe(0)
    const latest = await download(s, `${HELLO}@latest`)
    expect(latest.json.Version).toBe('v1.3.0')
  })

  it.skipIf(!hasGo)('reports the 401 of a private repository to a go command without credentials', async () => {
    const s = sandbox('go-local', false)
    const r = await s.run(['mod', 'download', '-json', `${HELLO}@v1.0.0`])
    expect(r.code).not.toBe(0)
    expect(r.stdout + r.stderr).toMatch(/401 Unauthorized/)
  })

  it.skipIf(!hasGo)('downloads anonymously over plain http from a public repository', async () => {
    await createGoRepo(node, 'go-open', { public: true })
    await upload('go-open', 'example.com/open', 'v0.2.0', await libraryModule('example.com/open', 'v0.2.0', 'open'))
    const s = new GoSandbox(`${node.url}/go/go-open`)
    sandboxes.push(s)
    const { code, json, stderr } = await download(s, 'example.com/open@v0.2.0')
    expect(code, stderr + JSON.stringify(json)).toBe(0)
    expect(`example.com/open v0.2.0 ${json.Sum}`).toBe(sums.get('example.com/open@v0.2.0')![0])
  })

  it.skipIf(!hasGo)('reports an unknown version as not found', async () => {
    const s = sandbox('go-local')
    const r = await download(s, `${HELLO}@v9.9.9`)
    expect(r.code).not.toBe(0)
    expect(r.json.Error ?? r.stderr).toMatch(/not found|unknown revision|no matching versions|404/)
  })
})
