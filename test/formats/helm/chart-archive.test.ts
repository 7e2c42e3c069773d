import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { buildIndex, readChartArchive, type ChartArchiveLimits } from '../../../formats/helm/index.ts'
import { buildTar, buildTgz, chartTgz } from '../../e2e/helm/charts.ts'

const read = (tgz: Buffer, limits?: ChartArchiveLimits) => readChartArchive(Readable.from([tgz]), limits)

describe('chart archive', () => {
  it('reads the Chart.yaml of a packaged chart', async () => {
    const meta = await read(await chartTgz({ name: 'web', version: '0.1.0', appVersion: '2.0' }))
    expect(meta).toMatchObject({ apiVersion: 'v2', name: 'web', version: '0.1.0', appVersion: '2.0' })
  })

  it('ignores Chart.yaml files of sub-charts', async () => {
    const tgz = await buildTgz([
      { name: 'web/charts/sub/Chart.yaml', data: 'apiVersion: v2\nname: sub\nversion: 9.9.9\n' },
      { name: 'web/Chart.yaml', data: 'apiVersion: v2\nname: web\nversion: 0.2.0\n' },
    ])
    expect(await read(tgz)).toMatchObject({ name: 'web', version: '0.2.0' })
  })

  it('refuses bytes that are not gzip, gzip that is not tar, and truncated archives', async () => {
    await expect(read(Buffer.from('plain text, no gzip here'))).rejects.toThrow(/not a gzip/)
    await expect(read(gzipSync(Buffer.from('gzip, but not a tar archive inside, just text that goes on for a while...'.repeat(10))))).rejects.toThrow(/not a valid chart archive|tar/)
    const tgz = await chartTgz({ name: 'web', version: '0.1.0' })
    await expect(read(tgz.subarray(0, tgz.length - 30))).rejects.toThrow(/gzip|chart archive/)
  })

  it('refuses archives without Chart.yaml in a chart directory', async () => {
    await expect(read(await buildTgz([{ name: 'web/values.yaml', data: 'a: 1\n' }]))).rejects.toThrow(/no Chart.yaml/)
    await expect(read(await buildTgz([{ name: 'Chart.yaml', data: 'apiVersion: v2\nname: a\nversion: 1.0.0\n' }]))).rejects.toThrow(/not in a chart directory/)
    await expect(read(gzipSync(await buildTar([])))).rejects.toThrow(/empty|no Chart.yaml/)
  })

  it('refuses entries that leave the chart directory', async () => {
    const tgz = await buildTgz([
      { name: 'web/Chart.yaml', data: 'apiVersion: v2\nname: web\nversion: 0.1.0\n' },
      { name: 'web/../../etc/passwd', data: 'x' },
    ])
    await expect(read(tgz)).rejects.toThrow(/leaves the chart directory/)
  })

  it('stops inflating a gzip bomb at the decompressed limit', async () => {
    const bomb = await buildTgz([
      { name: 'web/zeros.bin', data: Buffer.alloc(8 * 1024 * 1024) },
      { name: 'web/Chart.yaml', data: 'apiVersion: v2\nname: web\nversion: 0.1.0\n' },
    ])
    expect(bomb.length).toBeLessThan(64 * 1024)
    await expect(read(bomb, { maxDecompressedBytes: 1024 * 1024 })).rejects.toThrow(/decompresses to more than/)
  })

  it('refuses archives with too many entries and an oversize Chart.yaml', async () => {
    const many = await buildTgz(Array.from({ length: 30 }, (_, i) => ({ name: `web/f${i}`, data: 'x' })))
    await expect(read(many, { maxEntries: 10 })).rejects.toThrow(/more than 10 entries/)
    const huge = await buildTgz([{ name: 'web/Chart.yaml', data: `apiVersion: v2\nname: web\nversion: 0.1.0\ndescription: ${'x'.repeat(1024 * 1024 + 10)}\n` }])
    await expect(read(huge)).rejects.toThrow(/Chart.yaml is larger/)
  })
})

describe('index.yaml generation', () => {
  it('groups versions by chart name, newest first by SemVer precedence, with digest and absolute URLs', () => {
    const chart = (name: string, version: string, sha: string) => ({
      repo: { key: 'r' } as never,
      metadata: { apiVersion: 'v2' as const, name, version },
      created: '2024-01-01T00:00:00.000Z',
      artifact: { sha256: sha } as never,
    })
    const index = buildIndex(
      [chart('web', '1.2.0', 'a'), chart('web', '1.10.0', 'b'), chart('api', '0.1.0', 'c'), chart('web', '1.10.0-rc.1', 'd')],
      (file) => `http://host/helm/r/charts/${file}`,
      new Date('2024-02-02T00:00:00Z'),
    )
    expect(Object.keys(index.entries)).toEqual(['api', 'web'])
    expect(index.entries.web!.map((e) => e.version)).toEqual(['1.10.0', '1.10.0-rc.1', '1.2.0'])
    expect(index.entries.api![0]).toMatchObject({ digest: 'c', urls: ['http://host/helm/r/charts/api-0.1.0.tgz'], created: '2024-01-01T00:00:00.000Z' })
    expect(index.generated).toBe('2024-02-02T00:00:00.000Z')
  })
})
