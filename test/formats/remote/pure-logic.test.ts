import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { NegativeCache, StoreAndClientTee } from '../../../formats/core/index.ts'
import { globToRegExp } from '../../../store/index.ts'
import { findTarball, packumentSource, parsePackument, rewriteTarballUrls } from '../../../formats/npm/index.ts'
import { parseHtmlPage, parseJsonPage, renderMergedPage } from '../../../formats/pypi/index.ts'

const SHA = 'a'.repeat(64)

describe('PyPI upstream pages', () => {
  const html = `<!DOCTYPE html><html><body>
    <a href="../../packages/ab/cd/demo-1.0-py3-none-any.whl#sha256=${SHA}" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256=${'b'.repeat(64)}" data-custom="x&amp;y">demo-1.0-py3-none-any.whl</a><br/>
    <a href="https://files.example.org/demo-0.9.tar.gz#md5=${'c'.repeat(32)}" data-yanked="broken build">demo-0.9.tar.gz</a>
  </body></html>`

  it('reads PEP 503 anchors: absolute URLs, hash fragments, requires-python, core metadata, yanks and other data-* attributes', () => {
    const files = parseHtmlPage(html, 'https://pypi.example.org/simple/demo/')
    expect(files).toHaveLength(2)
    expect(files[0]).toMatchObject({
      filename: 'demo-1.0-py3-none-any.whl',
      url: 'https://pypi.example.org/packages/ab/cd/demo-1.0-py3-none-any.whl',
      hashes: { sha256: SHA },
      requiresPython: '>=3.8',
      coreMetadata: { sha256: 'b'.repeat(64) },
      extraData: { 'data-custom': 'x&y' },
    })
    expect(files[1]).toMatchObject({ url: 'https://files.example.org/demo-0.9.tar.gz', hashes: { md5: 'c'.repeat(32) }, yanked: 'broken build' })
  })

  it('reads PEP 691 JSON pages and renders both serialisations with the given URLs, keeping what it read', () => {
    const json = JSON.stringify({
      meta: { 'api-version': '1.1' },
      name: 'demo',
      files: [{ filename: 'demo-1.0.tar.gz', url: '/files/demo-1.0.tar.gz', hashes: { sha256: SHA }, 'requires-python': '>=3.9', yanked: true, size: 10 }],
    })
    const files = parseJsonPage(json, 'http://up.example/simple/demo/').map((f) => ({ ...f, url: '../../packages/demo/demo-1.0.tar.gz' }))
    const out = JSON.parse(renderMergedPage('demo', files, 'json')) as { files: Record<string, unknown>[] }
    expect(out.files[0]).toMatchObject({ url: '../../packages/demo/demo-1.0.tar.gz', hashes: { sha256: SHA }, 'requires-python': '>=3.9', yanked: true, size: 10 })
    const page = renderMergedPage('demo', files, 'html')
    expect(page).toContain(`href="../../packages/demo/demo-1.0.tar.gz#sha256=${SHA}"`)
    expect(page).toContain('data-requires-python="&gt;=3.9"')
    expect(page).toContain('data-yanked=""')
    // What we render, we read back the same.
    expect(parseHtmlPage(page, 'http://edge/pypi/r/simple/demo/')[0]).toMatchObject({ filename: 'demo-1.0.tar.gz', requiresPython: '>=3.9', yanked: true })
  })

  it('refuses a JSON page without a files array', () => {
    expect(() => parseJsonPage('{"name":"x"}', 'http://up/')).toThrow(/no files array/)
  })
})

describe('npm upstream packuments', () => {
  const doc = () =>
    parsePackument(
      JSON.stringify({
        name: '@sc/pkg',
        'dist-tags': { latest: '1.0.0' },
        time: { created: '2020-01-01T00:00:00.000Z', modified: '2021-01-01T00:00:00.000Z', '1.0.0': '2020-06-01T00:00:00.000Z' },
        versions: {
          '1.0.0': {
            name: '@sc/pkg',
            version: '1.0.0',
            dependencies: { a: '1' },
            description: 'd',
            dist: { tarball: 'https://cdn.example/@sc/pkg/-/pkg-1.0.0.tgz', shasum: 'F'.repeat(40), integrity: `sha512-${Buffer.alloc(64, 1).toString('base64')}` },
          },
        },
      }),
      '@sc/pkg',
    )

  it('rewrites every tarball URL to the serving node and finds the upstream URL and digests of a file', () => {
    const d = doc()
    const found = findTarball(d, '@sc/pkg', 'pkg-1.0.0.tgz')
    expect(found).toEqual({ url: 'https://cdn.example/@sc/pkg/-/pkg-1.0.0.tgz', version: '1.0.0', shasum: 'f'.repeat(40), sha512: '01'.repeat(64) })
    rewriteTarballUrls(d, '@sc/pkg', 'http://edge:1/npm/r')
    expect((d.versions?.['1.0.0']?.dist as { tarball: string }).tarball).toBe('http://edge:1/npm/r/@sc/pkg/-/pkg-1.0.0.tgz')
    expect(findTarball(d, '@sc/pkg', 'other.tgz')).toBeUndefined()
  })

  it('turns a packument into a merge source: manifests without dist, abbreviated fields, tags and publish times', () => {
    const s = packumentSource('remote', '@sc/pkg', doc(), SHA, 0)
    expect(s.tags).toEqual({ latest: '1.0.0' })
    expect(JSON.parse(s.versions[0]?.manifest ?? '')).toEqual({ name: '@sc/pkg', version: '1.0.0', dependencies: { a: '1' }, description: 'd' })
    expect(JSON.parse(s.versions[0]?.abbreviated ?? '')).toEqual({ name: '@sc/pkg', version: '1.0.0', dependencies: { a: '1' } })
    expect(s.versions[0]?.publishedAt).toBe(Date.parse('2020-06-01T00:00:00.000Z'))
    expect(s.pkg.modifiedAt).toBe(Date.parse('2021-01-01T00:00:00.000Z'))
  })

  it('refuses malformed JSON, a non-object and a packument of another package', () => {
    expect(() => parsePackument('{"versions":', 'x')).toThrow(/not valid JSON/)
    expect(() => parsePackument('[1]', 'x')).toThrow(/not a JSON object/)
    expect(() => parsePackument('{"name":"y"}', 'x')).toThrow(/names 'y'/)
  })
})

describe('generic mutablePaths globs', () => {
  it('matches ** across segments and * within one', () => {
    expect(globToRegExp('**/latest.json').test('a/b/latest.json')).toBe(true)
    expect(globToRegExp('**/latest.json').test('latest.json')).toBe(true)
    expect(globToRegExp('meta/*.xml').test('meta/a.xml')).toBe(true)
    expect(globToRegExp('meta/*.xml').test('meta/x/a.xml')).toBe(false)
    expect(globToRegExp('a.b').test('axb')).toBe(false)
  })
})

describe('negative cache', () => {
  it('forgets entries after their TTL and the oldest when full', async () => {
    const c = new NegativeCache(2)
    c.add('r', 'u1', 30)
    expect(c.has('r', 'u1')).toBe(true)
    expect(c.has('other', 'u1')).toBe(false)
    await new Promise((r) => setTimeout(r, 50))
    expect(c.has('r', 'u1')).toBe(false)
    c.add('r', 'a', 10_000)
    c.add('r', 'b', 10_000)
    c.add('r', 'c', 10_000)
    expect(c.has('r', 'a')).toBe(false)
    expect(c.has('r', 'c')).toBe(true)
  })
})

describe('StoreAndClientTee', () => {
  const HWM = 16 * 1024

  it('keeps buffered bytes bounded while the client does not read, and hands the client every byte after release()', async () => {
    const tee = new StoreAndClientTee(HWM, 60_000)
    const stored: Buffer[] = []
    tee.store.on('data', (c: Buffer) => stored.push(c))
    let produced = 0
    const source = new Readable({
      read() {
        if (produced >= 4 * 1024 * 1024) return this.push(null)
        produced += 4096
        this.push(Buffer.alloc(4096, 7))
      },
    })
    const pumping = pipeline(source, tee)
    await new Promise((r) => setTimeout(r, 100))
    // The client reads nothing: the source must stall after a few high-water marks, not run to 4 MiB.
    expect(produced).toBeLessThan(8 * HWM)
    expect(tee.client.readableLength).toBeLessThanOrEqual(2 * HWM)
    const received: Buffer[] = []
    tee.client.on('data', (c: Buffer) => received.push(c))
    await pumping
    // The last chunk waits for the store's verdict.
    expect(Buffer.concat(received).length).toBe(4 * 1024 * 1024 - 4096)
    const ended = new Promise((r) => tee.client.once('end', r))
    tee.release()
    await ended
    expect(Buffer.concat(received).length).toBe(4 * 1024 * 1024)
    expect(Buffer.concat(stored).length).toBe(4 * 1024 * 1024)
  })

  it('cuts the client short when the store refuses the bytes', async () => {
    const tee = new StoreAndClientTee(HWM, 60_000)
    tee.store.resume()
    const errored = new Promise<Error>((r) => tee.client.once('error', r))
    tee.client.resume()
    await pipeline(Readable.from([Buffer.alloc(100), Buffer.alloc(100)]), tee)
    tee.fail(new Error('digest mismatch'))
    expect((await errored).message).toBe('digest mismatch')
  })

  it('drops a client that goes away and keeps feeding the store', async () => {
    const tee = new StoreAndClientTee(HWM, 60_000)
    let stored = 0
    tee.store.on('data', (c: Buffer) => (stored += c.length))
    tee.client.destroy()
    await pipeline(Readable.from(Array.from({ length: 64 }, () => Buffer.alloc(8192))), tee)
    expect(stored).toBe(64 * 8192)
  })
})
