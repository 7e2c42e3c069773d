// Hole pinned: an admin of a virtual repository only could add any private repository of the node
// to its members and then read that repository's packages through the virtual one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { makePackageTgz, publishDocument } from '../formats/npm/fixtures.ts'
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from '../e2e/oci/oci-layout.ts'

const MALLORY = { name: 'mallory', password: 'mallory-password-1' }
const mallory = `Basic ${Buffer.from(`${MALLORY.name}:${MALLORY.password}`).toString('base64')}`

let node: NodeProcess

async function call(method: string, path: string, auth: string | undefined, body?: unknown, headers: Record<string, string> = {}) {
  const isJson = body !== undefined && !(body instanceof Buffer) && typeof body !== 'string'
  return fetch(`${node.url}${path}`, {
    method,
    headers: {
      ...(auth ? { authorization: auth } : {}),
      ...(isJson ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: isJson ? JSON.stringify(body) : (body as string | Buffer | undefined),
    signal: AbortSignal.timeout(30_000),
  })
}
const admin = (method: string, path: string, body?: unknown) => call(method, path, node.adminAuth, body)

async function ok(res: Promise<Response> | Response, status = 200): Promise<Response> {
  const r = await res
  if (r.status !== status) throw new Error(`${r.url}: expected ${status}, got ${r.status}: ${await r.text()}`)
  return r
}

const createRepo = (body: Record<string, unknown>) => ok(admin('POST', '/api/v1/repositories', body), 201)
const grant = (repo: string, actions: string[]) =>
  ok(admin('PUT', '/api/v1/permissions', { repo, principalType: 'user', principal: MALLORY.name, actions }))
const revoke = (repo: string) => ok(admin('DELETE', `/api/v1/permissions?repo=${repo}&principalType=user&principal=${MALLORY.name}`), 204)
const members = async (key: string) => ((await (await ok(admin('GET', `/api/v1/repositories/${key}`))).json()) as { settings: { members?: string[] } }).settings.members

async function publishNpm(repo: string, name: string, version: string) {
  const tgz = await makePackageTgz({ name, version, keywords: ['leaky'] })
  await ok(call('PUT', `/npm/${repo}/${name}`, node.adminAuth, publishDocument(name, version, tgz, { manifest: { keywords: ['leaky'] } })), 201)
}

/** A refusal by the management API: the status and the JSON `{error, message}` body. */
async function expectRefused(res: Promise<Response>, status: number, code: string) {
  const r = await res
  const body = (await r.json()) as { error?: string; message?: string }
  expect(r.status, JSON.stringify(body)).toBe(status)
  expect(body.error).toBe(code)
  expect(typeof body.message).toBe('string')
}

beforeAll(async () => {
  node = await startNodeProcess()
  await ok(admin('POST', '/api/v1/users', MALLORY), 201)
  // npm: a private repository mallory may not read, one she uses, and the virtual one she administers.
  await createRepo({ key: 'secret', format: 'npm' })
  await publishNpm('secret', 'hidden', '1.0.0')
  await createRepo({ key: 'mine', format: 'npm' })
  await publishNpm('mine', 'visible', '1.0.0')
  await createRepo({ key: 'shared', format: 'npm' })
  await publishNpm('shared', 'lent', '1.0.0')
  await createRepo({ key: 'readonly', format: 'npm' })
  await createRepo({ key: 'v', format: 'npm', type: 'virtual', settings: { members: ['mine'], defaultDeployRepo: 'mine' } })
  await grant('mine', ['write'])
  await grant('readonly', ['read'])
  await grant('v', ['admin'])
}, 60_000)
afterAll(async () => {
  await node?.stop()
})

describe('editing a virtual repository\'s members needs read on each added member', () => {
  it('refuses (403 JSON) a repository admin adding a private repository, by PATCH or PUT, and changes nothing', async () => {
    await expectRefused(call('PATCH', '/api/v1/repositories/v', mallory, { settings: { members: ['mine', 'secret'], defaultDeployRepo: 'mine' } }), 403, 'AK_FORBIDDEN')
    await expectRefused(call('PUT', '/api/v1/repositories/v', mallory, { settings: { members: ['secret', 'mine'], defaultDeployRepo: 'mine' } }), 403, 'AK_FORBIDDEN')
    expect(await members('v')).toEqual(['mine'])
  })

  it('answers a member that does not exist like one she may not read (no list of private names)', async () => {
    const unreadable = await call('PATCH', '/api/v1/repositories/v', mallory, { settings: { members: ['mine', 'secret'] } })
    const missing = await call('PATCH', '/api/v1/repositories/v', mallory, { settings: { members: ['mine', 'no-such-repo'] } })
    expect(unreadable.status).toBe(403)
    expect(missing.status).toBe(403)
    expect(((await missing.json()) as { message: string }).message.replace('no-such-repo', 'secret')).toBe(((await unreadable.json()) as { message: string }).message)
  })

  it('refuses a defaultDeployRepo she may not write, and lets her add members she may read', async () => {
    await expectRefused(call('PATCH', '/api/v1/repositories/v', mallory, { settings: { members: ['mine', 'readonly'], defaultDeployRepo: 'readonly' } }), 403, 'AK_FORBIDDEN')
    expect(await members('v')).toEqual(['mine'])
    await ok(call('PATCH', '/api/v1/repositories/v', mallory, { settings: { members: ['mine', 'readonly'], defaultDeployRepo: 'mine' } }))
    expect(await members('v')).toEqual(['mine', 'readonly'])
  })
})

describe('a virtual repository serves a member only to callers who may read it', () => {
  beforeAll(async () => {
    // The node admin adds the private repository: allowed, but it must not open it to mallory.
    await ok(admin('PATCH', '/api/v1/repositories/v', { settings: { members: ['mine', 'secret'], defaultDeployRepo: 'mine' } }))
  })

  it('npm: packument, version, dist-tags, tarball and search of the unreadable member are not served', async () => {
    expect((await call('GET', '/npm/v/visible', mallory)).status).toBe(200)
    expect((await call('GET', '/npm/v/hidden', mallory)).status).toBe(404)
    expect((await call('GET', '/npm/v/hidden', mallory, undefined, { accept: 'application/vnd.npm.install-v1+json' })).status).toBe(404)
    expect((await call('GET', '/npm/v/hidden/1.0.0', mallory)).status).toBe(404)
    expect((await call('GET', '/npm/v/-/package/hidden/dist-tags', mallory)).status).toBe(404)
    expect((await call('GET', '/npm/v/hidden/-/hidden-1.0.0.tgz', mallory)).status).toBe(404)
    const search = (await (await ok(call('GET', '/npm/v/-/v1/search?text=leaky', mallory))).json()) as { objects: { package: { name: string } }[] }
    expect(search.objects.map((o) => o.package.name)).toEqual(['visible'])
  })

  it('npm: the node admin still reads the member through the virtual repository', async () => {
    expect((await admin('GET', '/npm/v/hidden')).status).toBe(200)
    expect((await admin('GET', '/npm/v/hidden/-/hidden-1.0.0.tgz')).status).toBe(200)
  })

  it('npm: a grant revoked after the member was added stops the reads through the virtual repository', async () => {
    await grant('shared', ['read'])
    await ok(call('PATCH', '/api/v1/repositories/v', mallory, { settings: { members: ['mine', 'secret', 'shared'], defaultDeployRepo: 'mine' } }))
    expect((await call('GET', '/npm/v/lent', mallory)).status).toBe(200)
    expect((await call('GET', '/npm/v/lent/-/lent-1.0.0.tgz', mallory)).status).toBe(200)
    await revoke('shared')
    expect((await call('GET', '/npm/v/lent', mallory)).status).toBe(404)
    expect((await call('GET', '/npm/v/lent/-/lent-1.0.0.tgz', mallory)).status).toBe(404)
    // Members kept as they were open nothing new: she may still edit the rest of the settings.
    await ok(call('PATCH', '/api/v1/repositories/v', mallory, { settings: { members: ['mine', 'secret', 'shared'], defaultDeployRepo: 'mine', immutable: true } }))
    expect((await call('GET', '/npm/v/lent', mallory)).status).toBe(404)
  })

  it('npm: a public virtual repository does not open its private members to anonymous callers', async () => {
    await createRepo({ key: 'pubv', format: 'npm', type: 'virtual', public: true, settings: { members: ['secret'] } })
    expect((await call('GET', '/npm/pubv/hidden', undefined)).status).toBe(404)
    expect((await call('GET', '/npm/pubv/hidden/-/hidden-1.0.0.tgz', undefined)).status).toBe(404)
  })
})

describe('generic virtual repositories read through their members and deploy to defaultDeployRepo', () => {
  const text = async (r: Promise<Response>) => (await ok(r)).text()

  beforeAll(async () => {
    await createRepo({ key: 'g-secret', format: 'generic' })
    await ok(admin('PUT', '/generic/g-secret/dir/secret.txt', 'top secret'), 201)
    await ok(admin('PUT', '/generic/g-secret/dir/both.txt', 'secret copy'), 201)
    await createRepo({ key: 'g-mine', format: 'generic' })
    await ok(admin('PUT', '/generic/g-mine/dir/mine.txt', 'mine'), 201)
    await ok(admin('PUT', '/generic/g-mine/dir/both.txt', 'my copy'), 201)
    // A remote member: a generic remote repository whose upstream is a public repository of this node.
    await createRepo({ key: 'g-up', format: 'generic', public: true })
    await ok(admin('PUT', '/generic/g-up/far/remote.txt', 'from upstream'), 201)
    await createRepo({ key: 'g-remote', format: 'generic', type: 'remote', upstream: { url: `${node.url}/generic/g-up` } })
    await createRepo({ key: 'gv', format: 'generic', type: 'virtual', settings: { members: ['g-mine', 'g-remote'], defaultDeployRepo: 'g-mine' } })
    await grant('g-mine', ['write'])
    await grant('g-remote', ['read'])
    await grant('gv', ['admin'])
  })

  it('refuses mallory adding the private generic repository', async () => {
    await expectRefused(call('PATCH', '/api/v1/repositories/gv', mallory, { settings: { members: ['g-mine', 'g-remote', 'g-secret'], defaultDeployRepo: 'g-mine' } }), 403, 'AK_FORBIDDEN')
    expect(await members('gv')).toEqual(['g-mine', 'g-remote'])
  })

  it('reads files through the members in order, a remote member included', async () => {
    expect(await text(call('GET', '/generic/gv/dir/mine.txt', mallory))).toBe('mine')
    expect(await text(call('GET', '/generic/gv/far/remote.txt', mallory))).toBe('from upstream')
    expect((await call('GET', '/generic/gv/dir/nothing.txt', mallory)).status).toBe(404)
  })

  it('serves a member added by the node admin only to callers who may read it; listings merge the readable members', async () => {
    await ok(admin('PATCH', '/api/v1/repositories/gv', { settings: { members: ['g-secret', 'g-mine', 'g-remote'], defaultDeployRepo: 'g-mine' } }))
    // The admin reads through every member, the first one holding a path winning it.
    expect(await text(admin('GET', '/generic/gv/dir/secret.txt'))).toBe('top secret')
    expect(await text(admin('GET', '/generic/gv/dir/both.txt'))).toBe('secret copy')
    const adminList = (await (await ok(admin('GET', '/generic/gv/dir/'))).json()) as { children: { name: string }[] }
    expect(adminList.children.map((c) => c.name)).toEqual(['both.txt', 'mine.txt', 'secret.txt'])
    // Mallory gets none of g-secret's content.
    expect((await call('GET', '/generic/gv/dir/secret.txt', mallory)).status).toBe(404)
    expect((await call('HEAD', '/generic/gv/dir/secret.txt', mallory)).status).toBe(404)
    expect(await text(call('GET', '/generic/gv/dir/both.txt', mallory))).toBe('my copy')
    const list = (await (await ok(call('GET', '/generic/gv/dir/', mallory))).json()) as { repo: string; children: { name: string; sha256?: string }[] }
    expect(list.repo).toBe('gv')
    expect(list.children.map((c) => c.name)).toEqual(['both.txt', 'mine.txt'])
  })

  it('deploys an upload to defaultDeployRepo (write needed there), not into the virtual repository', async () => {
    const put = await ok(call('PUT', '/generic/gv/up/new.txt', mallory, 'uploaded'), 201)
    expect(((await put.json()) as { repo: string }).repo).toBe('g-mine')
    expect(await text(admin('GET', '/generic/g-mine/up/new.txt'))).toBe('uploaded')
    expect(await text(call('GET', '/generic/gv/up/new.txt', mallory))).toBe('uploaded')
    // Nothing is stored in the virtual repository itself.
    const repo = (await (await ok(admin('GET', '/api/v1/repositories/gv'))).json()) as { artifacts: number }
    expect(repo.artifacts).toBe(0)
    // Read on the virtual repository without write on its deploy target is not enough.
    await grant('g-mine', ['read'])
    expect((await call('PUT', '/generic/gv/up/other.txt', mallory, 'refused')).status).toBe(403)
    expect((await call('DELETE', '/generic/gv/up/new.txt', mallory)).status).toBe(403)
    await grant('g-mine', ['write', 'delete'])
    expect((await call('DELETE', '/generic/gv/up/new.txt', mallory)).status).toBe(204)
    expect((await admin('GET', '/generic/g-mine/up/new.txt')).status).toBe(404)
  })
})

describe('maven: the same rules', () => {
  const jar = 'com/example/hidden/1.0/hidden-1.0.jar'

  beforeAll(async () => {
    await createRepo({ key: 'm-secret', format: 'maven' })
    await ok(admin('PUT', `/maven/m-secret/${jar}`, 'secret jar'), 201)
    await createRepo({ key: 'm-mine', format: 'maven' })
    await createRepo({ key: 'mv', format: 'maven', type: 'virtual', settings: { members: ['m-mine'], defaultDeployRepo: 'm-mine' } })
    await grant('m-mine', ['write'])
    await grant('mv', ['admin'])
  })

  it('refuses mallory adding the private repository; once the node admin adds it, mallory reads none of it', async () => {
    await expectRefused(call('PATCH', '/api/v1/repositories/mv', mallory, { settings: { members: ['m-mine', 'm-secret'], defaultDeployRepo: 'm-mine' } }), 403, 'AK_FORBIDDEN')
    expect(await members('mv')).toEqual(['m-mine'])
    await ok(admin('PATCH', '/api/v1/repositories/mv', { settings: { members: ['m-mine', 'm-secret'], defaultDeployRepo: 'm-mine' } }))
    expect(await (await ok(admin('GET', `/maven/mv/${jar}`))).text()).toBe('secret jar')
    expect((await call('GET', `/maven/mv/${jar}`, mallory)).status).toBe(404)
    expect((await call('GET', `/maven/mv/${jar}.sha1`, mallory)).status).toBe(404)
    expect((await call('GET', '/maven/mv/com/example/hidden/maven-metadata.xml', mallory)).status).toBe(404)
    expect((await call('GET', '/maven/mv/com/example/', mallory)).status).toBe(404)
  })
})

describe('oci: the same rules, for manifests, blobs, tags, the catalog and pushes that link members\' blobs', () => {
  const asMallory = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) => call(method, path, mallory, body, headers)
  let layer = ''
  let manifestDigest = ''

  beforeAll(async () => {
    await createRepo({ key: 'o-secret', format: 'oci' })
    await createRepo({ key: 'o-mine', format: 'oci' })
    await createRepo({ key: 'ov', format: 'oci', type: 'virtual', settings: { members: ['o-mine'], defaultDeployRepo: 'o-mine' } })
    await grant('o-mine', ['write'])
    await grant('ov', ['admin'])
    const push = async (data: string, mediaType: string) => {
      const buf = Buffer.from(data)
      const digest = sha256(buf)
      await ok(call('POST', `/v2/o-secret/app/blobs/uploads/?digest=${digest}`, node.adminAuth, buf, { 'content-type': 'application/octet-stream' }), 201)
      return { mediaType, digest, size: buf.length }
    }
    const config = await push('{"architecture":"amd64","os":"linux"}', OCI_CONFIG)
    const l = await push('secret layer', OCI_LAYER)
    layer = l.digest
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [l] })
    manifestDigest = sha256(manifest)
    await ok(call('PUT', '/v2/o-secret/app/manifests/1.0', node.adminAuth, manifest, { 'content-type': OCI_MANIFEST }), 201)
  })

  it('refuses mallory adding the private repository; once the node admin adds it, mallory reads none of it', async () => {
    await expectRefused(call('PATCH', '/api/v1/repositories/ov', mallory, { settings: { members: ['o-mine', 'o-secret'], defaultDeployRepo: 'o-mine' } }), 403, 'AK_FORBIDDEN')
    await ok(admin('PATCH', '/api/v1/repositories/ov', { settings: { members: ['o-mine', 'o-secret'], defaultDeployRepo: 'o-mine' } }))
    expect((await call('GET', '/v2/ov/app/manifests/1.0', node.adminAuth, undefined, { accept: OCI_MANIFEST })).status).toBe(200)
    expect((await asMallory('GET', '/v2/ov/app/manifests/1.0', undefined, { accept: OCI_MANIFEST })).status).toBe(404)
    expect((await asMallory('GET', `/v2/ov/app/manifests/${manifestDigest}`, undefined, { accept: OCI_MANIFEST })).status).toBe(404)
    expect((await asMallory('GET', `/v2/ov/app/blobs/${layer}`)).status).toBe(404)
    expect((await asMallory('HEAD', `/v2/ov/app/blobs/${layer}`)).status).toBe(404)
    expect((await asMallory('GET', '/v2/ov/app/tags/list')).status).toBe(404)
    const catalog = (await (await ok(asMallory('GET', '/v2/_catalog'))).json()) as { repositories: string[] }
    expect(catalog.repositories).not.toContain('ov/app')
  })

  it('a manifest pushed through the virtual repository cannot link blobs of a member mallory may not read', async () => {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', mine: true })
    await ok(asMallory('POST', `/v2/ov/app/blobs/uploads/?digest=${sha256(config)}`, config, { 'content-type': 'application/octet-stream' }), 201)
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: Buffer.byteLength(config) },
      layers: [{ mediaType: OCI_LAYER, digest: layer, size: Buffer.byteLength('secret layer') }],
    })
    const put = await asMallory('PUT', '/v2/ov/app/manifests/stolen', manifest, { 'content-type': OCI_MANIFEST })
    expect(put.status).toBe(400)
    expect(((await put.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('MANIFEST_BLOB_UNKNOWN')
    expect((await call('GET', `/v2/o-mine/app/blobs/${layer}`, node.adminAuth)).status).toBe(404)
  })
})
