import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { readCrateManifest } from '../../../formats/cargo/index.ts'
import { crateFile, tarGz } from '../../e2e/cargo/crate-builder.ts'

const from = (b: Buffer) => Readable.from([b])

describe('reading Cargo.toml out of a .crate', () => {
  it('finds {name}-{version}/Cargo.toml and reads the package id', async () => {
    const crate = await crateFile('demo', '1.2.3')
    expect(await readCrateManifest(from(crate), 'demo-1.2.3')).toEqual({ name: 'demo', version: '1.2.3' })
  })

  it('reports what the manifest says even when it disagrees with the directory', async () => {
    const crate = await crateFile('demo', '1.2.3', { tomlName: 'other' })
    expect(await readCrateManifest(from(crate), 'demo-1.2.3')).toEqual({ name: 'other', version: '1.2.3' })
  })

  it('refuses a .crate without the manifest at the expected place', async () => {
    const crate = await tarGz([{ name: 'elsewhere/Cargo.toml', body: '[package]\nname = "demo"\n' }])
    await expect(readCrateManifest(from(crate), 'demo-1.0.0')).rejects.toThrow(/has no demo-1.0.0\/Cargo.toml/)
  })

  it('refuses bytes that are not gzip', async () => {
    await expect(readCrateManifest(from(Buffer.from('this is no archive at all')), 'x-1.0.0')).rejects.toThrow(/not a gzip-compressed tar/)
  })

  it('refuses a gzip that is not a tar', async () => {
    await expect(readCrateManifest(from(gzipSync(Buffer.alloc(4096, 7))), 'x-1.0.0')).rejects.toThrow(/not a gzip-compressed tar|has no/)
  })

  // A decompression bomb: 8 MiB of zeros (a few KiB compressed) ahead of the manifest must
  // stop at the scan budget instead of inflating everything.
  it('stops a decompression bomb at the scan budget', async () => {
    const crate = await crateFile('bomb', '1.0.0', { before: [{ name: 'bomb-1.0.0/zeros.bin', body: Buffer.alloc(8 * 1024 * 1024) }] })
    expect(crate.length).toBeLessThan(64 * 1024)
    await expect(readCrateManifest(from(crate), 'bomb-1.0.0', { maxScanBytes: 1024 * 1024 })).rejects.toThrow(/decompresses to more than 1048576 bytes/)
    // The same archive passes when the budget allows it: the bound, not the file, made it fail.
    expect(await readCrateManifest(from(crate), 'bomb-1.0.0', { maxScanBytes: 16 * 1024 * 1024 })).toEqual({ name: 'bomb', version: '1.0.0' })
  })

  it('refuses an oversized Cargo.toml and too many entries', async () => {
    const big = await tarGz([{ name: 'x-1.0.0/Cargo.toml', body: `[package]\nname = "x"\n#${' '.repeat(4096)}` }])
    await expect(readCrateManifest(from(big), 'x-1.0.0', { maxManifestBytes: 1024 })).rejects.toThrow(/larger than 1024 bytes/)
    const many = await crateFile('x', '1.0.0', { before: Array.from({ length: 20 }, (_, i) => ({ name: `x-1.0.0/f${i}`, body: 'x' })) })
    await expect(readCrateManifest(from(many), 'x-1.0.0', { maxEntries: 10 })).rejects.toThrow(/more than 10 entries/)
  })
})
