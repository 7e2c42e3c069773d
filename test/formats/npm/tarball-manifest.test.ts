import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { readTarballManifest } from '../../../formats/npm/index.ts'
import { makePackageTgz, makeTgz } from './fixtures.ts'

const read = (tgz: Buffer, limits = {}) => readTarballManifest(Readable.from([tgz]), limits)

describe('readTarballManifest', () => {
  it('reads package/package.json', async () => {
    expect(await read(await makePackageTgz({ name: 'a', version: '1.0.0' }))).toEqual({ name: 'a', version: '1.0.0' })
  })

  it('accepts any top-level folder name, as npm does', async () => {
    const tgz = await makeTgz([{ name: 'node-pkg/package.json', body: '{"name":"b","version":"2.0.0"}' }])
    expect(await read(tgz)).toMatchObject({ name: 'b' })
  })

  it('stops reading once package.json is parsed', async () => {
    // Entries after package.json would break the entry cap; they are never reached.
    const entries = [{ name: 'package/package.json', body: '{"name":"c","version":"1.0.0"}' }]
    for (let i = 0; i < 50; i++) entries.push({ name: `package/f${i}.js`, body: 'x' })
    expect(await read(await makeTgz(entries), { maxEntries: 2 })).toMatchObject({ name: 'c' })
  })

  it('refuses bytes that are not gzip', async () => {
    await expect(read(Buffer.from('plain text, not a tarball'))).rejects.toThrow(/cannot be read/)
  })

  it('refuses a tarball without package.json', async () => {
    await expect(read(await makeTgz([{ name: 'package/index.js', body: '1' }]))).rejects.toThrow(/no package\/package.json/)
  })

  it('refuses a package.json that is not a JSON object', async () => {
    await expect(read(await makeTgz([{ name: 'package/package.json', body: '{nope' }]))).rejects.toThrow(/not valid JSON/)
  })

  it('stops a decompression bomb at the byte cap', async () => {
    // 16 MiB of zeros before package.json gzip to ~16 KiB.
    const zeros = Buffer.alloc(16 * 1024 * 1024)
    const tgz = await makeTgz([
      { name: 'package/zeros.bin', body: zeros },
      { name: 'package/package.json', body: '{"name":"d","version":"1.0.0"}' },
    ])
    expect(tgz.length).toBeLessThan(256 * 1024)
    await expect(read(tgz, { maxBytes: 2 * 1024 * 1024 })).rejects.toThrow(/more than 2097152 bytes/)
  })

  it('caps the number of entries before package.json', async () => {
    const entries = Array.from({ length: 30 }, (_, i) => ({ name: `package/f${i}.js`, body: 'x' }))
    entries.push({ name: 'package/package.json', body: '{"name":"e","version":"1.0.0"}' })
    await expect(read(await makeTgz(entries), { maxEntries: 10 })).rejects.toThrow(/more than 10 entries/)
  })

  it('caps the size of package.json', async () => {
    const tgz = await makeTgz([{ name: 'package/package.json', body: JSON.stringify({ name: 'f', pad: 'x'.repeat(5000) }) }])
    await expect(read(tgz, { maxPackageJsonBytes: 1000 })).rejects.toThrow(/larger than 1000 bytes/)
  })

  it('refuses a truncated tarball', async () => {
    const tgz = await makePackageTgz({ name: 'g', version: '1.0.0' })
    await expect(read(gzipSync(Buffer.from('x'.repeat(100))))).rejects.toThrow(/cannot be read|no package/)
    await expect(read(tgz.subarray(0, 20))).rejects.toThrow(/cannot be read/)
  })
})
