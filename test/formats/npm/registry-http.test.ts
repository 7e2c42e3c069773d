import { randomBytes } from 'node:crypto'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_BASIC, basic, startTestNode, type TestNode } from '../../helpers/test-node.ts'
import { makePackageTgz, makeTgz, publishDocument, sha1Hex, sriSha512 } from './fixtures.ts'

const ABBREVIATED = 'application/vnd.npm.install-v1+json'

describe('npm registry over HTTP', () => {
  let t: TestNode
  const inject = (opts: InjectOptions) => t.node.app.inject(opts)

  const createRepo = async (body: Record<string, unknown>) => {
    const r = await inject({ method: 'POST', url: '/api/v1/repositories', headers: { authorization: ADMIN_BASIC }, payload: body })
    expect(r.statusCode, r.body).toBe(201)
  }

  const publish = (repo: string, name: string, doc: unknown, auth: string | null = ADMIN_BASIC) =>
    inject({
      method: 'PUT',
      url: `/npm/${repo}/${name.replace('/', '%2f')}`,
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      payload: typeof doc === 'string' ? doc : JSON.stringify(doc),
    })

  const packument = (repo: string, name: string, accept?: string) =>
    inject({ method: 'GET', url: `/npm/${repo}/${name.replace('/', '%2f')}`, headers: { authorization: ADMIN_BASIC, ...(accept ? { accept } : {}) } })

  beforeAll(async () => {
    t = await startTestNode({ flags: { 'limits.maxUploadBytes': 64 * 1024 } })
    await createRepo({ key: 'npm-a', format: 'npm', type: 'local' })
    await createRepo({ key: 'npm-b', format: 'npm', type: 'local' })
    await createRepo({ key: 'npm-all', format: 'npm', type: 'virtual', settings: { members: ['npm-a', 'npm-b'], defaultDeployRepo: 'npm-a' } })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('publishes, then serves the full and abbreviated packument with integrity from the stored bytes', async () => {
    const tgz = await makePackageTgz({ name: 'left', version: '1.0.0' })
    const r = await publish('npm-a', 'left', publishDocument('left', '1.0.0', tgz, { manifest: { dependencies: { x: '^1' }, readme: '# left' } }))
    expect(r.statusCode, r.body).toBe(201)

    const full = await packument('npm-a', 'left')
    expect(full.statusCode).toBe(200)
    const doc = full.json()
    expect(doc['dist-tags']).toEqual({ latest: '1.0.0' })
    expect(doc.readme).toBe('# left')
    const dist = doc.versions['1.0.0'].dist
    expect(dist.integrity).toBe(sriSha512(tgz))
    expect(dist.shasum).toBe(sha1Hex(tgz))
    expect(dist.tarball).toMatch(/^http:\/\/[^/]+\/npm\/npm-a\/left\/-\/left-1\.0\.0\.tgz$/)
    expect(doc.time['1.0.0']).toBeDefined()

    const abbreviated = await packument('npm-a', 'left', `${ABBREVIATED}; q=1.0, application/json; q=0.8, */*`)
    expect(abbreviated.headers['content-type']).toContain(ABBREVIATED)
    const a = abbreviated.json()
    expect(Object.keys(a).sort()).toEqual(['dist-tags', 'modified', 'name', 'versions'])
    expect(a.versions['1.0.0'].dependencies).toEqual({ x: '^1' })
    expect(a.versions['1.0.0'].readme).toBeUndefined()

    const again = await inject({ method: 'GET', url: '/npm/npm-a/left', headers: { authorization: ADMIN_BASIC, 'if-none-match': full.headers.etag as string } })
    expect(again.statusCode).toBe(304)

    const file = await inject({ method: 'GET', url: new URL(dist.tarball).pathname, headers: { authorization: ADMIN_BASIC } })
    expect(file.statusCode).toBe(200)
    expect(file.rawPayload.equals(tgz)).toBe(true)
  })

  it('publishes scoped packages sent as @scope%2fname and serves their tarballs under @scope/name/-/', async () => {
    const tgz = await makePackageTgz({ name: '@acme/util', version: '0.1.0' })
    expect((await publish('npm-a', '@acme/util', publishDocument('@acme/util', '0.1.0', tgz))).statusCode).toBe(201)
    const doc = (await packument('npm-a', '@acme/util')).json()
    expect(doc.name).toBe('@acme/util')
    const url = new URL(doc.versions['0.1.0'].dist.tarball)
    expect(url.pathname).toBe('/npm/npm-a/@acme/util/-/util-0.1.0.tgz')
    const file = await inject({ method: 'GET', url: url.pathname, headers: { authorization: ADMIN_BASIC } })
    expect(file.rawPayload.equals(tgz)).toBe(true)
    const unencoded = await inject({ method: 'GET', url: '/npm/npm-a/@acme/util', headers: { authorization: ADMIN_BASIC } })
    expect(unencoded.json().name).toBe('@acme/util')
  })

  it('refuses to publish over a published version, in npm words, and keeps the first bytes', async () => {
    const first = await makePackageTgz({ name: 'same', version: '1.0.0' }, 'first')
    const second = await makePackageTgz({ name: 'same', version: '1.0.0' }, 'second')
    expect((await publish('npm-a', 'same', publishDocument('same', '1.0.0', first))).statusCode).toBe(201)
    const r = await publish('npm-a', 'same', publishDocument('same', '1.0.0', second))
    expect(r.statusCode).toBe(403)
    expect(r.json().error).toBe('You cannot publish over the previously published versions: 1.0.0.')
    const doc = (await packument('npm-a', 'same')).json()
    expect(doc.versions['1.0.0'].dist.shasum).toBe(sha1Hex(first))
  })

  describe('bad input: a clear {error}, nothing stored', () => {
    const refused = async (name: string, doc: unknown, status: number, error: RegExp) => {
      const r = await publish('npm-a', name, doc)
      expect(r.statusCode, r.body).toBe(status)
      expect(r.json().error).toMatch(error)
      const p = await packument('npm-a', name)
      expect(p.statusCode).toBe(404)
    }

    it('names that break npm rules', async () => {
      const tgz = await makePackageTgz({ name: 'Upper', version: '1.0.0' })
      await refused('Upper', publishDocument('Upper', '1.0.0', tgz), 400, /capital letters/)
      await refused('.dot', publishDocument('.dot', '1.0.0', tgz), 400, /period/)
    })

    it('versions that are not semver', async () => {
      const tgz = await makePackageTgz({ name: 'badver', version: 'one' })
      await refused('badver', publishDocument('badver', 'one', tgz), 400, /Invalid version/)
    })

    it('integrity or shasum that do not match the tarball', async () => {
      const tgz = await makePackageTgz({ name: 'digest', version: '1.0.0' })
      await refused('digest', publishDocument('digest', '1.0.0', tgz, { integrity: sriSha512(Buffer.from('other')) }), 400, /integrity/)
      await refused('digest', publishDocument('digest', '1.0.0', tgz, { shasum: sha1Hex(Buffer.from('other')) }), 400, /shasum/)
    })

    it('a tarball whose package.json names another package or version', async () => {
      const tgz = await makePackageTgz({ name: 'other', version: '1.0.0' })
      await refused('mismatch', publishDocument('mismatch', '1.0.0', tgz), 400, /package.json in the tarball is other@1.0.0/)
      const v2 = await makePackageTgz({ name: 'mismatch', version: '2.0.0' })
      await refused('mismatch', publishDocument('mismatch', '1.0.0', v2), 400, /mismatch@2.0.0/)
    })

    it('a tarball that is not a gzipped tar, or has no package.json', async () => {
      await refused('notgz', publishDocument('notgz', '1.0.0', Buffer.from('just text')), 400, /cannot be read/)
      const bare = await makeTgz([{ name: 'package/index.js', body: '1' }])
      await refused('bare', publishDocument('bare', '1.0.0', bare), 400, /no package\/package.json/)
    })

    it('malformed JSON and bad base64', async () => {
      await refused('broken', '{"name":"broken","versions":', 400, /malformed publish document/)
      const tgz = await makePackageTgz({ name: 'b64', version: '1.0.0' })
      const doc = publishDocument('b64', '1.0.0', tgz) as { _attachments: Record<string, { data: string }> }
      ;(doc._attachments['b64-1.0.0.tgz'] as { data: string }).data = '!!!!'
      await refused('b64', doc, 400, /not valid base64/)
    })

    it('a tarball over the upload limit', async () => {
      const tgz = await makePackageTgz({ name: 'huge', version: '1.0.0' }, randomBytes(100 * 1024).toString('hex'))
      expect(tgz.length).toBeGreaterThan(64 * 1024)
      await refused('huge', publishDocument('huge', '1.0.0', tgz), 413, /exceeds the maximum/)
    })

    it('an anonymous publish, with a Basic challenge', async () => {
      const tgz = await makePackageTgz({ name: 'anon', version: '1.0.0' })
      const r = await publish('npm-a', 'anon', publishDocument('anon', '1.0.0', tgz), null)
      expect(r.statusCode).toBe(401)
      expect(r.headers['www-authenticate']).toMatch(/^Basic/)
      expect(r.json().error).toMatch(/authentication required/)
    })
  })

  it('logs in with the couch user document, returning a token that whoami knows; a wrong password is 401', async () => {
    const bad = await inject({
      method: 'PUT',
      url: '/npm/npm-a/-/user/org.couchdb.user:admin',
      payload: { _id: 'org.couchdb.user:admin', name: 'admin', password: 'wrong-password', type: 'user', roles: [] },
    })
    expect(bad.statusCode).toBe(401)
    const ok = await inject({
      method: 'PUT',
      url: '/npm/npm-a/-/user/org.couchdb.user:admin',
      payload: { _id: 'org.couchdb.user:admin', name: 'admin', password: 'admin-test-password', type: 'user', roles: [] },
    })
    expect(ok.statusCode).toBe(201)
    const { token } = ok.json()
    expect(token).toMatch(/^akt_/)
    const me = await inject({ method: 'GET', url: '/npm/npm-a/-/whoami', headers: { authorization: `Bearer ${token}` } })
    expect(me.json()).toEqual({ username: 'admin' })
    const out = await inject({ method: 'DELETE', url: `/npm/npm-a/-/user/token/${token}`, headers: { authorization: `Bearer ${token}` } })
    expect(out.statusCode).toBe(200)
    const after = await inject({ method: 'GET', url: '/npm/npm-a/-/whoami', headers: { authorization: `Bearer ${token}` } })
    expect(after.statusCode).toBe(401)
    const anon = await inject({ method: 'GET', url: '/npm/npm-a/-/whoami' })
    expect(anon.statusCode).toBe(401)
  })

  it('moves dist-tags and keeps latest', async () => {
    const tgz = await makePackageTgz({ name: 'tagged', version: '2.0.0-rc.1' })
    expect((await publish('npm-a', 'tagged', publishDocument('tagged', '2.0.0-rc.1', tgz, { tag: 'next' }))).statusCode).toBe(201)
    const tags = () => inject({ method: 'GET', url: '/npm/npm-a/-/package/tagged/dist-tags', headers: { authorization: ADMIN_BASIC } })
    // The first publish gets latest too, so `npm install tagged` works.
    expect((await tags()).json()).toEqual({ latest: '2.0.0-rc.1', next: '2.0.0-rc.1' })
    const put = (tag: string, version: string) =>
      inject({
        method: 'PUT',
        url: `/npm/npm-a/-/package/tagged/dist-tags/${tag}`,
        headers: { authorization: ADMIN_BASIC, 'content-type': 'application/json' },
        payload: JSON.stringify(version),
      })
    expect((await put('beta', '2.0.0-rc.1')).statusCode).toBe(201)
    expect((await put('beta', '9.9.9')).statusCode).toBe(404)
    expect((await put('1.x', '2.0.0-rc.1')).json().error).toMatch(/SemVer range/)
    expect((await tags()).json().beta).toBe('2.0.0-rc.1')
    const del = (tag: string) => inject({ method: 'DELETE', url: `/npm/npm-a/-/package/tagged/dist-tags/${tag}`, headers: { authorization: ADMIN_BASIC } })
    expect((await del('beta')).statusCode).toBe(200)
    expect((await del('beta')).statusCode).toBe(404)
    expect((await del('latest')).statusCode).toBe(400)
  })

  it('searches names, descriptions and keywords', async () => {
    const tgz = await makePackageTgz({ name: 'findme-pkg', version: '1.0.0' })
    await publish('npm-a', 'findme-pkg', publishDocument('findme-pkg', '1.0.0', tgz, { manifest: { keywords: ['needle'] } }))
    const s = (text: string) => inject({ method: 'GET', url: `/npm/npm-a/-/v1/search?text=${text}&size=5`, headers: { authorization: ADMIN_BASIC } })
    const hits = (await s('needle')).json()
    expect(hits.total).toBe(1)
    expect(hits.objects[0].package).toMatchObject({ name: 'findme-pkg', version: '1.0.0', keywords: ['needle'] })
    expect((await s('findme')).json().objects[0].package.name).toBe('findme-pkg')
    expect((await s('nothing-like-this')).json().total).toBe(0)
  })

  it('merges members in a virtual repository: first member wins per version, tags from the first member with the tag', async () => {
    const a1 = await makePackageTgz({ name: 'shared', version: '1.0.0' }, 'from a')
    const b1 = await makePackageTgz({ name: 'shared', version: '1.0.0' }, 'from b')
    const b2 = await makePackageTgz({ name: 'shared', version: '2.0.0' }, 'from b')
    expect((await publish('npm-a', 'shared', publishDocument('shared', '1.0.0', a1))).statusCode).toBe(201)
    expect((await publish('npm-b', 'shared', publishDocument('shared', '1.0.0', b1))).statusCode).toBe(201)
    expect((await publish('npm-b', 'shared', publishDocument('shared', '2.0.0', b2, { tag: 'next' }))).statusCode).toBe(201)
    const doc = (await packument('npm-all', 'shared')).json()
    expect(Object.keys(doc.versions)).toEqual(['1.0.0', '2.0.0'])
    expect(doc.versions['1.0.0'].dist.shasum).toBe(sha1Hex(a1))
    expect(doc.versions['2.0.0'].dist.shasum).toBe(sha1Hex(b2))
    expect(doc['dist-tags']).toEqual({ latest: '1.0.0', next: '2.0.0' })
    for (const [v, bytes] of [['1.0.0', a1], ['2.0.0', b2]] as const) {
      const url = new URL(doc.versions[v].dist.tarball)
      expect(url.pathname).toBe(`/npm/npm-all/shared/-/shared-${v}.tgz`)
      const file = await inject({ method: 'GET', url: url.pathname, headers: { authorization: ADMIN_BASIC } })
      expect(file.rawPayload.equals(bytes)).toBe(true)
    }
    // Publishing through the virtual repository lands in its defaultDeployRepo.
    const v3 = await makePackageTgz({ name: 'shared', version: '3.0.0' })
    expect((await publish('npm-all', 'shared', publishDocument('shared', '3.0.0', v3))).statusCode).toBe(201)
    expect((await packument('npm-a', 'shared')).json().versions['3.0.0']).toBeDefined()
    expect((await packument('npm-b', 'shared')).json().versions['3.0.0']).toBeUndefined()
  })

  it('forgets a deleted repository\'s packages: a new repository of the same key starts empty', async () => {
    await createRepo({ key: 'npm-tmp', format: 'npm', type: 'local' })
    const tgz = await makePackageTgz({ name: 'ephemeral', version: '1.0.0' })
    expect((await publish('npm-tmp', 'ephemeral', publishDocument('ephemeral', '1.0.0', tgz))).statusCode).toBe(201)
    const del = await inject({ method: 'DELETE', url: '/api/v1/repositories/npm-tmp', headers: { authorization: ADMIN_BASIC } })
    expect(del.statusCode, del.body).toBeLessThan(300)
    await createRepo({ key: 'npm-tmp', format: 'npm', type: 'local' })
    expect((await packument('npm-tmp', 'ephemeral')).statusCode).toBe(404)
    expect((await publish('npm-tmp', 'ephemeral', publishDocument('ephemeral', '1.0.0', tgz))).statusCode).toBe(201)
  })

  it('needs write on the deploy target, not only read on the virtual repository', async () => {
    const create = await inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { authorization: ADMIN_BASIC },
      payload: { name: 'reader', password: 'reader-password' },
    })
    expect(create.statusCode).toBe(201)
    // Reading through a virtual repository needs read on its members too (issue 11 part 1).
    for (const repo of ['npm-all', 'npm-a', 'npm-b']) {
      await inject({
        method: 'PUT',
        url: '/api/v1/permissions',
        headers: { authorization: ADMIN_BASIC },
        payload: { repo, principalType: 'user', principal: 'reader', actions: ['read'] },
      })
    }
    expect((await inject({ method: 'GET', url: '/npm/npm-all/shared', headers: { authorization: basic('reader', 'reader-password') } })).statusCode).toBe(200)
    const tgz = await makePackageTgz({ name: 'shared', version: '4.0.0' })
    const r = await publish('npm-all', 'shared', publishDocument('shared', '4.0.0', tgz), basic('reader', 'reader-password'))
    expect(r.statusCode).toBe(403)
  })
})
