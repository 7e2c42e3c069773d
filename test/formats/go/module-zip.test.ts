import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { checkModuleZip, goModHash1, hash1 } from '../../../formats/go/index.ts'
import { BufferReader, buildZip, libraryModule, lieAboutSizes, moduleZip, patchBytes } from '../../e2e/go/module-zips.ts'

const M = 'example.com/hello'
const V = 'v1.0.0'
const P = `${M}@${V}/`

const check = (zip: Buffer, limits = {}) => checkModuleZip(new BufferReader(zip), zip.length, M, V, limits)

async function refusal(zip: Buffer, limits = {}): Promise<string> {
  try {
    await check(zip, limits)
  } catch (err) {
    expect((err as { code?: string }).code).toBe('AK_INVALID_INPUT')
    return (err as Error).message
  }
  throw new Error('the zip was accepted')
}

describe('module zip check', () => {
  it('accepts a valid module zip and returns its go.mod, counts and go.sum hash', async () => {
    const zip = await libraryModule(M, V, 'hi')
    const summary = await check(zip)
    expect(summary.files).toBe(3)
    expect(summary.goMod?.toString()).toBe(`module ${M}\n\ngo 1.19\n`)
    expect(summary.h1).toMatch(/^h1:[A-Za-z0-9+/]{43}=$/)
  })

  it('computes the h1 hash as dirhash.Hash1 does (sorted "sha256  name" lines)', async () => {
    const files = { 'b.go': 'package b\n', 'a.go': 'package a\n' }
    const zip = await moduleZip(M, V, files)
    const sha = (s: string) => createHash('sha256').update(s).digest('hex')
    const lines = `${sha('package a\n')}  ${P}a.go\n${sha('package b\n')}  ${P}b.go\n`
    const expected = `h1:${createHash('sha256').update(lines).digest('base64')}`
    expect((await check(zip)).h1).toBe(expected)
    expect(hash1([{ name: `${P}b.go`, sha256: sha('package b\n') }, { name: `${P}a.go`, sha256: sha('package a\n') }])).toBe(expected)
    expect(goModHash1('module x\n')).toBe(hash1([{ name: 'go.mod', sha256: sha('module x\n') }]))
  })

  it('accepts a module without go.mod and directory entries', async () => {
    const zip = await buildZip([{ name: `${P}sub`, dir: true }, { name: `${P}sub/x.go`, data: 'package sub\n' }])
    const summary = await check(zip)
    expect(summary.goMod).toBeUndefined()
    expect(summary.files).toBe(1)
  })

  it('refuses entries outside the {module}@{version}/ prefix', async () => {
    expect(await refusal(await buildZip([{ name: 'example.com/other@v1.0.0/x.go', data: 'x' }]))).toMatch(/does not have prefix/)
  })

  it('refuses path traversal and unclean paths (names yazl will not write are forged)', async () => {
    const zip = patchBytes(await moduleZip(M, V, { 'XX/evil.go': 'x' }), 'XX/evil', '../evil')
    expect(await refusal(zip)).toMatch(/invalid module zip/)
    const dot = patchBytes(await moduleZip(M, V, { 'a/X/b.go': 'x' }), 'a/X/b', 'a/./b')
    expect(await refusal(dot)).toMatch(/not clean|invalid/)
  })

  it('refuses duplicate and case-folding duplicate paths', async () => {
    expect(await refusal(await buildZip([{ name: `${P}a.go`, data: '1' }, { name: `${P}a.go`, data: '2' }]))).toMatch(/multiple entries/)
    expect(await refusal(await moduleZip(M, V, { 'README.md': '1', 'readme.md': '2' }))).toMatch(/case-insensitive/)
    expect(await refusal(await moduleZip(M, V, { 'Dir/a.go': '1', 'dir/b.go': '2' }))).toMatch(/case-insensitive/)
  })

  it('refuses a go.mod outside the root, a go.mod spelled otherwise, and vendored packages', async () => {
    expect(await refusal(await moduleZip(M, V, { 'go.mod': `module ${M}\n`, 'sub/go.mod': 'module x\n' }))).toMatch(/not in module root/)
    expect(await refusal(await moduleZip(M, V, { 'GO.MOD': `module ${M}\n` }))).toMatch(/exactly go.mod/)
    expect(await refusal(await moduleZip(M, V, { 'vendor/example.org/dep/dep.go': 'package dep\n' }))).toMatch(/vendored/)
    // vendor/modules.txt is not a vendored package file.
    await expect(check(await moduleZip(M, V, { 'vendor/modules.txt': '# x\n' }))).resolves.toMatchObject({ files: 1 })
  })

  it('refuses a zip whose contents exceed the uncompressed limit, from the headers, before inflating', async () => {
    const zip = await moduleZip(M, V, { 'big.bin': Buffer.alloc(2 * 1024 * 1024) })
    expect(zip.length).toBeLessThan(64 * 1024)
    expect(await refusal(zip, { maxUncompressedBytes: 1024 * 1024 })).toMatch(/too large/)
  })

  it('refuses a decompression bomb whose headers lie about its size', async () => {
    const zip = lieAboutSizes(await moduleZip(M, V, { 'bomb.bin': Buffer.alloc(8 * 1024 * 1024) }), 100)
    expect(await refusal(zip)).toMatch(/cannot be decompressed|too many bytes|invalid module zip/)
  })

  it('refuses zips with too many entries, and bytes that are not a zip', async () => {
    const many = await moduleZip(M, V, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.go`, 'x'])))
    expect(await refusal(many, { maxEntries: 10 })).toMatch(/20 entries/)
    expect(await refusal(Buffer.from('this is not a zip file at all, not even close'))).toMatch(/not a readable zip/)
  })

  it('refuses a corrupt deflate stream', async () => {
    const zip = await moduleZip(M, V, { 'a.txt': 'hello hello hello hello hello hello hello hello' })
    const at = zip.indexOf(Buffer.from('a.txt')) + 'a.txt'.length
    const broken = Buffer.from(zip)
    for (let i = at; i < at + 6; i++) broken[i] = 0xff
    expect(await refusal(broken)).toMatch(/invalid module zip/)
  })
})
