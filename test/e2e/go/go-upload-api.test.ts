import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { libraryModule } from './module-zips.ts'
import { createGoRepo, enc, proxyGet } from './support.ts'

/** The management API's upload, PUT /api/v1/go/{repo}/{module}/@v/{version}.zip, against a real node. */
describe('go: upload through the management API', () => {
  let node: NodeProcess
  beforeAll(async () => {
    node = await startNodeProcess()
    await createGoRepo(node, 'mods')
  })
  afterAll(async () => {
    await node?.stop()
  })

  const put = (module: string, version: string, body: Buffer, auth: string | null = node.adminAuth) =>
    fetch(`${node.url}/api/v1/go/mods/${enc(module)}/@v/${enc(version)}.zip`, {
      method: 'PUT',
      headers: { 'content-type': 'application/zip', ...(auth ? { authorization: auth } : {}) },
      body,
    })

  it('stores a version the GOPROXY side then serves', async () => {
    const zip = await libraryModule('example.com/viaapi', 'v1.0.0', 'viaapi')
    const res = await put('example.com/viaapi', 'v1.0.0', zip)
    expect(res.status).toBe(201)
    expect(await (await proxyGet(node, 'mods', 'example.com/viaapi/@v/list')).text()).toBe('v1.0.0\n')
    const served = await proxyGet(node, 'mods', 'example.com/viaapi/@v/v1.0.0.zip')
    expect(Buffer.from(await served.arrayBuffer()).equals(zip)).toBe(true)
  })

  it('answers bad input and missing credentials in the API JSON form, storing nothing', async () => {
    const bad = await put('example.com/broken', 'v1.0.0', Buffer.from('not a zip at all'))
    expect(bad.status).toBe(400)
    const body = (await bad.json()) as { error: string; message: string }
    expect(body.error).toMatch(/^AK_/)
    expect(body.message).toMatch(/zip/)
    expect((await proxyGet(node, 'mods', 'example.com/broken/@v/list')).status).toBe(404)

    const anonymous = await put('example.com/anon', 'v1.0.0', await libraryModule('example.com/anon', 'v1.0.0', 'anon'), null)
    expect(anonymous.status).toBe(401)
    expect(((await anonymous.json()) as { error: string }).error).toBe('AK_UNAUTHORIZED')
    expect((await proxyGet(node, 'mods', 'example.com/anon/@v/list')).status).toBe(404)
  })
})
