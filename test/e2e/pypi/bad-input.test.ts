import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { buildBombWheel, buildSdist, buildWheel, coreMetadata, sdistFilename, twineFields, uploadForm, wheelFilename } from './dists.ts'
import { createRepo } from './helpers.ts'

// Every family of bad upload is refused with a 400 (413 when oversize) in PyPI's plain-text
// style, and nothing becomes visible: no index entry, no file.

describe('PyPI uploads refused', () => {
  let node: NodeProcess

  const upload = (repo: string, filename: string, bytes: Buffer, fields: Record<string, string>) =>
    fetch(`${node.url}/pypi/${repo}/`, {
      method: 'POST',
      headers: { authorization: node.adminAuth },
      body: uploadForm(filename, bytes, fields),
      signal: AbortSignal.timeout(60_000),
    })

  /** Asserts the refusal and that the project shows nothing in the repository. */
  const refused = async (res: Response, status: number, text: RegExp, project: string, repo = 'bad') => {
    const body = await res.text()
    expect(res.status, body).toBe(status)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(body).toMatch(text)
    expect(res.statusText).toMatch(text)
    const page = await fetch(`${node.url}/pypi/${repo}/simple/${project}/`, { headers: { authorization: node.adminAuth } })
    expect(page.status).toBe(404)
  }

  const wheelOf = (name: string, version: string, extra: Partial<Parameters<typeof buildWheel>[0]> = {}) =>
    buildWheel({ name, version, files: { [`${name.replace(/-/g, '_')}/__init__.py`]: 'X = 1\n' }, ...extra })

  beforeAll(async () => {
    node = await startNodeProcess()
    await createRepo(node, 'bad')
    await createRepo(node, 'tiny', { settings: { maxUploadBytes: 4096 } })
  })

  afterAll(async () => {
    await node?.stop()
  })

  it('refuses a sha256_digest that does not match the file', async () => {
    const w = await wheelOf('dig-a', '1.0')
    const fields = { ...twineFields('dig-a', '1.0', 'bdist_wheel', w), sha256_digest: 'ab'.repeat(32) }
    await refused(await upload('bad', wheelFilename('dig-a', '1.0'), w, fields), 400, /digest/i, 'dig-a')
  })

  it('refuses an md5_digest that does not match the file', async () => {
    const w = await wheelOf('dig-b', '1.0')
    const fields = { ...twineFields('dig-b', '1.0', 'bdist_wheel', w), md5_digest: 'cd'.repeat(16) }
    await refused(await upload('bad', wheelFilename('dig-b', '1.0'), w, fields), 400, /digest/i, 'dig-b')
  })

  it('refuses a malformed wheel that is not a zip archive', async () => {
    const junk = randomBytes(3000)
    await refused(await upload('bad', wheelFilename('junk', '1.0'), junk, twineFields('junk', '1.0', 'bdist_wheel', junk)), 400, /Invalid wheel/, 'junk')
  })

  it('refuses a wheel without METADATA', async () => {
    const w = await wheelOf('no-meta', '1.0', { metadata: null })
    await refused(await upload('bad', wheelFilename('no-meta', '1.0'), w, twineFields('no-meta', '1.0', 'bdist_wheel', w)), 400, /METADATA/, 'no-meta')
  })

  it('refuses a zip bomb whose METADATA inflates past its declared size', async () => {
    const w = await buildBombWheel('bomb', '1.0', 16 * 1024 * 1024, 300)
    expect(w.length).toBeLessThan(1024 * 1024)
    await refused(await upload('bad', wheelFilename('bomb', '1.0'), w, twineFields('bomb', '1.0', 'bdist_wheel', w)), 400, /zip bomb/, 'bomb')
  })

  it('refuses a METADATA that declares more than the metadata limit', async () => {
    const w = await buildBombWheel('huge-meta', '1.0', 3 * 1024 * 1024, 3 * 1024 * 1024 + 100)
    await refused(await upload('bad', wheelFilename('huge-meta', '1.0'), w, twineFields('huge-meta', '1.0', 'bdist_wheel', w)), 400, /declares/, 'huge-meta')
  })

  it('refuses a project name that breaks the naming rules', async () => {
    const w = await wheelOf('fine', '1.0')
    const res = await upload('bad', wheelFilename('fine', '1.0'), w, { ...twineFields('fine', '1.0', 'bdist_wheel', w), name: '-bad name-' })
    await refused(res, 400, /invalid value for Name/, 'fine')
  })

  it('refuses a file whose name belongs to another project than the form says', async () => {
    const w = await wheelOf('theirs', '1.0')
    await refused(await upload('bad', wheelFilename('theirs', '1.0'), w, twineFields('mine', '1.0', 'bdist_wheel', w)), 400, /theirs/, 'mine')
    const s = await buildSdist({ name: 'theirs', version: '1.0', files: {} })
    await refused(await upload('bad', sdistFilename('theirs', '1.0'), s, twineFields('mine', '1.0', 'sdist', s)), 400, /another project/, 'mine')
  })

  it('refuses a wheel whose METADATA names another project or version than its filename', async () => {
    const w = await wheelOf('liar', '1.0', { metadata: coreMetadata({ name: 'liar', version: '9.9' }) })
    await refused(await upload('bad', wheelFilename('liar', '1.0'), w, twineFields('liar', '1.0', 'bdist_wheel', w)), 400, /version '9\.9'/, 'liar')
  })

  it('refuses filenames that are neither wheels nor .tar.gz sdists, and invalid wheel names', async () => {
    const data = Buffer.from('x')
    await refused(await upload('bad', 'odd-1.0.zip', data, twineFields('odd', '1.0', 'sdist', data)), 400, /Invalid file extension/, 'odd')
    await refused(await upload('bad', 'odd-1.0-py3.whl', data, twineFields('odd', '1.0', 'bdist_wheel', data)), 400, /Invalid wheel filename/, 'odd')
    await refused(await upload('bad', 'odd-1.0-py3-none-any.whl', data, twineFields('odd', '2.0', 'bdist_wheel', data)), 400, /Version in filename/, 'odd')
  })

  it('refuses an sdist without PKG-INFO, and one that is not gzip', async () => {
    const s = await buildSdist({ name: 'no-pkginfo', version: '1.0', files: {}, pkgInfo: null })
    await refused(await upload('bad', sdistFilename('no-pkginfo', '1.0'), s, twineFields('no-pkginfo', '1.0', 'sdist', s)), 400, /PKG-INFO/, 'no-pkginfo')
    const plain = Buffer.from('not gzip at all')
    await refused(await upload('bad', sdistFilename('plain', '1.0'), plain, twineFields('plain', '1.0', 'sdist', plain)), 400, /not a gzip-compressed tar archive/, 'plain')
    const tarOfJunk = gzipSync(randomBytes(2048))
    await refused(await upload('bad', sdistFilename('plain', '1.0'), tarOfJunk, twineFields('plain', '1.0', 'sdist', tarOfJunk)), 400, /source distribution/, 'plain')
  })

  it('refuses a file over the repository upload limit with 413', async () => {
    const big = await wheelOf('big', '1.0', { files: { 'big/data.txt': randomBytes(48 * 1024).toString('hex') } })
    await refused(await upload('tiny', wheelFilename('big', '1.0'), big, twineFields('big', '1.0', 'bdist_wheel', big)), 413, /exceeds/, 'big', 'tiny')
  })

  it('refuses bodies that are not multipart uploads, and other :actions', async () => {
    const res = await fetch(`${node.url}/pypi/bad/`, { method: 'POST', headers: { authorization: node.adminAuth, 'content-type': 'application/json' }, body: '{}' })
    expect(res.status).toBe(400)
    expect(await res.text()).toMatch(/multipart\/form-data/)
    const w = await wheelOf('act', '1.0')
    await refused(await upload('bad', wheelFilename('act', '1.0'), w, { ...twineFields('act', '1.0', 'bdist_wheel', w), ':action': 'submit' }), 400, /Unsupported ':action'/, 'act')
  })

  it('accepts the same bytes twice and refuses other bytes under the same filename', async () => {
    const w = await wheelOf('once', '1.0')
    const name = wheelFilename('once', '1.0')
    expect((await upload('bad', name, w, twineFields('once', '1.0', 'bdist_wheel', w))).status).toBe(200)
    expect((await upload('bad', name, w, twineFields('once', '1.0', 'bdist_wheel', w))).status).toBe(200)
    const other = await wheelOf('once', '1.0', { files: { 'once/__init__.py': 'X = 2\n' } })
    const res = await upload('bad', name, other, twineFields('once', '1.0', 'bdist_wheel', other))
    expect(res.status).toBe(400)
    expect(res.statusText).toMatch(/^File already exists/)
    expect(await res.text()).toMatch(/File already exists/)
  })
})
