import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireClient } from '../../helpers/clients.ts'
import { ADMIN_PASSWORD, startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { startCountingProxy, type CountingProxy } from '../../formats/remote/index.ts'
import { GoSandbox } from '../go/go-client.ts'
import { libraryModule } from '../go/module-zips.ts'
import { createGoRepo, uploadModule } from '../go/support.ts'

/*
 * The real go command (GOPROXY) through a remote repository: an UPSTREAM node process with a
 * local go repository (module versions uploaded), a counting proxy in front of it, and an EDGE
 * node process whose public remote repository proxies the upstream's GOPROXY. The go command
 * downloads, resolves @latest and builds only through the edge.
 */

const MODULE = 'example.com/rhello'

interface Download {
  Path: string
  Version: string
  Sum?: string
  GoModSum?: string
  Error?: string
}

describe('go through a go remote repository', () => {
  const hasGo = requireClient('go', 'apt-get install -y golang-go', ['version'])
  let upstream: NodeProcess
  let edge: NodeProcess
  let proxy: CountingProxy
  let goproxy: string
  const sums = new Map<string, string[]>()
  const sandboxes: GoSandbox[] = []

  const sandbox = () => {
    const s = new GoSandbox(goproxy)
    sandboxes.push(s)
    return s
  }
  const download = async (s: GoSandbox, query: string) => {
    const r = await s.run(['mod', 'download', '-json', query])
    return { code: r.code, json: JSON.parse(r.stdout || '{}') as Download, stderr: r.stderr }
  }
  const upload = async (version: string, greeting: string) => {
    const res = await uploadModule(upstream, 'go-local', MODULE, version, await libraryModule(MODULE, version, greeting))
    const text = await res.text()
    expect(res.status, text).toBe(201)
    sums.set(version, (JSON.parse(text) as { sum: string[] }).sum)
  }

  beforeAll(async () => {
    if (!hasGo) return
    upstream = await startNodeProcess()
    proxy = await startCountingProxy(upstream.url)
    edge = await startNodeProcess()
    await createGoRepo(upstream, 'go-local')
    const res = await fetch(`${edge.url}/api/v1/repositories`, {
      method: 'POST',
      headers: { authorization: edge.adminAuth, 'content-type': 'application/json' },
      body: JSON.stringify({
        key: 'go-remote',
        format: 'go',
        type: 'remote',
        public: true,
        upstream: { url: `${proxy.url}/go/go-local`, username: 'admin', password: ADMIN_PASSWORD },
        settings: { metadataTtlMs: 0 },
      }),
    })
    expect(res.status, await res.text()).toBe(201)
    // A public repository: the go command sends credentials only over https, and needs none here.
    goproxy = `${edge.url}/go/go-remote`
    await upload('v1.0.0', 'hello from v1.0.0')
    await upload('v1.1.0', 'hello from v1.1.0')
  }, 120_000)

  afterAll(async () => {
    for (const s of sandboxes) s.remove()
    await edge?.stop()
    await upstream?.stop()
    await proxy?.close()
  })

  it.skipIf(!hasGo)('go mod download through the edge gets the go.sum hashes the upstream computed at upload', async () => {
    const { code, json, stderr } = await download(sandbox(), `${MODULE}@v1.0.0`)
    expect(code, stderr + JSON.stringify(json)).toBe(0)
    expect([`${MODULE} v1.0.0 ${json.Sum}`, `${MODULE} v1.0.0/go.mod ${json.GoModSum}`]).toEqual(sums.get('v1.0.0'))
    expect(proxy.count(`/${MODULE}/@v/v1.0.0.zip`)).toBe(1)
    // A second client is served from the edge's store.
    const again = await download(sandbox(), `${MODULE}@v1.0.0`)
    expect(again.code, again.stderr).toBe(0)
    expect(proxy.count(`/${MODULE}/@v/v1.0.0.zip`)).toBe(1)
    expect(proxy.count(`/${MODULE}/@v/v1.0.0.mod`)).toBe(1)
    const zip = await fetch(`${goproxy}/${MODULE}/@v/v1.0.0.zip`)
    expect(zip.headers.get('x-ak-cache')).toBe('HIT')
    await zip.arrayBuffer()
  })

  it.skipIf(!hasGo)('builds a module resolving @latest through the edge; a version published upstream later shows up (mutable list)', async () => {
    const s = sandbox()
    const dir = s.project('app', {
      'go.mod': 'module example.com/app\n\ngo 1.19\n',
      'main.go': `package main\n\nimport (\n\t"fmt"\n\n\t"${MODULE}"\n)\n\nfunc main() { fmt.Println(rhello.Greeting()) }\n`,
    })
    const get = await s.run(['get', `${MODULE}@latest`], { cwd: dir })
    expect(get.code, get.stderr).toBe(0)
    const build = await s.run(['build', '-o', 'app', '.'], { cwd: dir })
    expect(build.code, build.stderr).toBe(0)
    expect(execFileSync(join(dir, 'app'), { timeout: 10_000 }).toString().trim()).toBe('hello from v1.1.0')

    await upload('v1.2.0', 'hello from v1.2.0')
    const list = await fetch(`${goproxy}/${MODULE}/@v/list`)
    expect((await list.text()).split('\n').filter(Boolean)).toEqual(['v1.0.0', 'v1.1.0', 'v1.2.0'])
    const latest = await download(sandbox(), `${MODULE}@latest`)
    expect(latest.code, latest.stderr).toBe(0)
    expect(latest.json.Version).toBe('v1.2.0')
  })

  it.skipIf(!hasGo)('answers 404 for an unknown module (remembered for a while) and refuses uploads', async () => {
    expect((await fetch(`${goproxy}/example.com/nothing/@v/list`)).status).toBe(404)
    expect((await fetch(`${goproxy}/example.com/nothing/@v/list`)).status).toBe(404)
    expect(proxy.count('/example.com/nothing/@v/list')).toBe(1)
    const put = await fetch(`${goproxy}/${MODULE}/@v/v9.0.0.zip`, { method: 'PUT', headers: { authorization: edge.adminAuth }, body: 'x' })
    expect(put.status).toBe(400)
  })

  it.skipIf(!hasGo)('with the upstream stopped, cached versions still download and the list is served stale with a warning', async () => {
    await upstream.stop()
    const list = await fetch(`${goproxy}/${MODULE}/@v/list`)
    expect(list.status).toBe(200)
    expect(list.headers.get('x-ak-cache')).toBe('STALE')
    expect(list.headers.get('warning')).toBe('110 - "Response is Stale"')
    expect((await list.text()).split('\n').filter(Boolean)).toEqual(['v1.0.0', 'v1.1.0', 'v1.2.0'])
    const { code, json, stderr } = await download(sandbox(), `${MODULE}@v1.1.0`)
    expect(code, stderr).toBe(0)
    expect(`${MODULE} v1.1.0 ${json.Sum}`).toBe(sums.get('v1.1.0')?.[0])
    const latest = await download(sandbox(), `${MODULE}@latest`)
    expect(latest.code, latest.stderr).toBe(0)
    expect(latest.json.Version).toBe('v1.2.0')
    // Never fetched: the upstream's failure, which the go command reports (not a silent 404).
    expect((await fetch(`${goproxy}/example.com/other/@v/list`)).status).toBe(502)
  })
})
