import { describe, expect, it } from 'vitest'
import { negotiateSimpleFormat, parseCoreMetadata, renderProjectList, renderProjectPage, type IndexFile } from '../../../formats/pypi/index.ts'

describe('PEP 691 content negotiation', () => {
  it('serves JSON to pip, whose Accept header prefers it by q', () => {
    expect(negotiateSimpleFormat('application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01')).toBe('json')
  })

  it('falls back to text/html without a header, for wildcards and for unknown types', () => {
    for (const accept of [undefined, '', '*/*', 'text/*', 'application/x-nothing', 'image/png, */*;q=0.5']) {
      expect(negotiateSimpleFormat(accept), String(accept)).toBe('text-html')
    }
  })

  it('honours explicit choices, q=0 and the latest aliases', () => {
    expect(negotiateSimpleFormat('application/vnd.pypi.simple.v1+html')).toBe('html')
    expect(negotiateSimpleFormat('application/vnd.pypi.simple.latest+json')).toBe('json')
    expect(negotiateSimpleFormat('text/html;q=0, application/vnd.pypi.simple.v1+json;q=0.2')).toBe('json')
    expect(negotiateSimpleFormat('*/*;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5')).toBe('text-html')
    expect(negotiateSimpleFormat('text/html', 'application/vnd.pypi.simple.v1+json')).toBe('json')
    expect(negotiateSimpleFormat('text/html', 'application/vnd.pypi.simple.v1 json')).toBe('json')
  })
})

const file = (over: Partial<IndexFile> = {}): IndexFile => ({
  filename: 'a_b-1.0-py3-none-any.whl',
  url: '../../packages/a-b/a_b-1.0-py3-none-any.whl',
  sha256: 'f'.repeat(64),
  size: 123,
  uploadTime: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
  version: '1.0',
  requiresPython: '>=3.8,<4',
  metadataSha256: 'e'.repeat(64),
  ...over,
})

describe('simple index rendering', () => {
  it('escapes attribute values in HTML and announces the API version', () => {
    const html = renderProjectPage('a-b', [file()], 'text-html')
    expect(html).toContain('<meta name="pypi:repository-version" content="1.1">')
    expect(html).toContain(`href="../../packages/a-b/a_b-1.0-py3-none-any.whl#sha256=${'f'.repeat(64)}"`)
    expect(html).toContain('data-requires-python="&gt;=3.8,&lt;4"')
    expect(html).toContain(`data-core-metadata="sha256=${'e'.repeat(64)}"`)
    expect(html).toContain(`data-dist-info-metadata="sha256=${'e'.repeat(64)}"`)
    const noMeta = renderProjectPage('a-b', [file({ metadataSha256: undefined, requiresPython: undefined })], 'html')
    expect(noMeta).not.toContain('data-core-metadata')
    expect(noMeta).not.toContain('data-requires-python')
  })

  it('renders PEP 691 JSON with PEP 700 fields and the core-metadata key only (PEP 714)', () => {
    const body = JSON.parse(renderProjectPage('a-b', [file(), file({ filename: 'a_b-2.0.tar.gz', version: '2.0', metadataSha256: undefined })], 'json'))
    expect(body.meta).toEqual({ 'api-version': '1.1' })
    expect(body.versions).toEqual(['1.0', '2.0'])
    expect(body.files[0]).toMatchObject({
      hashes: { sha256: 'f'.repeat(64) },
      'requires-python': '>=3.8,<4',
      'core-metadata': { sha256: 'e'.repeat(64) },
      size: 123,
      'upload-time': '2024-01-02T03:04:05.678Z',
    })
    // Never the old key in JSON: pip 23.0.1 crashes on its hash dict (issue 11 part 11).
    expect(body.files[0]).not.toHaveProperty('dist-info-metadata')
    // No metadata file: no key at all, as PyPI does (Debian 12's pip 23.0.1 fails on `false`).
    expect(body.files[1]).not.toHaveProperty('core-metadata')
    expect(body.files[1]).not.toHaveProperty('dist-info-metadata')
  })

  it('lists projects with relative links', () => {
    expect(renderProjectList(['a-b', 'c'], 'text-html')).toContain('<a href="a-b/">a-b</a><br/>')
    expect(JSON.parse(renderProjectList(['a-b'], 'json'))).toEqual({ meta: { 'api-version': '1.1' }, projects: [{ name: 'a-b' }] })
  })
})

describe('core metadata parsing', () => {
  it('reads headers, folded lines and stops at the description', () => {
    const m = parseCoreMetadata(
      Buffer.from('Metadata-Version: 2.1\r\nName: Ak.Demo\r\nVersion: 1.0\r\nRequires-Python: >=3.8\r\nLicense: line one\r\n        line two\r\nRequires-Dist: a\r\nRequires-Dist: b\r\n\r\nName: not-a-header\r\n'),
      'test',
    )
    expect(m).toMatchObject({ metadataVersion: '2.1', name: 'Ak.Demo', version: '1.0', requiresPython: '>=3.8' })
    expect(m.headers.get('license')).toEqual(['line one\nline two'])
    expect(m.headers.get('requires-dist')).toEqual(['a', 'b'])
  })

  it('refuses metadata without Name, Version or Metadata-Version', () => {
    expect(() => parseCoreMetadata(Buffer.from('Metadata-Version: 2.1\nVersion: 1\n'), 'x')).toThrow(/no Name/)
    expect(() => parseCoreMetadata(Buffer.from('Metadata-Version: 2.1\nName: a\n'), 'x')).toThrow(/no Version/)
    expect(() => parseCoreMetadata(Buffer.from('Name: a\nVersion: 1\n'), 'x')).toThrow(/no Metadata-Version/)
    expect(() => parseCoreMetadata(Buffer.from('garbage line\n'), 'x')).toThrow(/malformed header/)
  })
})
