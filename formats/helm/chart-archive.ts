import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import { MAX_CHART_ENTRIES, MAX_CHART_YAML_BYTES, MAX_DECOMPRESSED_CHART_BYTES } from './constants.ts'
import { ChartMetadataError, parseChartYaml, type ChartMetadata } from './chart-metadata.ts'

/**
 * Reads a chart archive (.tgz: gzip over tar, one top directory holding Chart.yaml, as
 * `helm package` writes it) as a stream, bounded: the decompressed bytes are counted and the
 * read stops past MAX_DECOMPRESSED_CHART_BYTES (a gzip bomb never inflates further), entries are
 * counted, only Chart.yaml is kept (at most MAX_CHART_YAML_BYTES), every other entry is drained.
 * The whole archive is read so that a corrupt one is refused here, not by the client later.
 */

export interface ChartArchiveLimits {
  /** @default MAX_DECOMPRESSED_CHART_BYTES */
  maxDecompressedBytes?: number
  /** @default MAX_CHART_ENTRIES */
  maxEntries?: number
}

/** Thrown for an archive a repository must refuse; the message says why. */
export class ChartArchiveError extends Error {}

function checkEntryName(name: string): void {
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw new ChartArchiveError(`chart archive entry "${name}" has an absolute path`)
  if (name.split(/[/\\]/).includes('..')) throw new ChartArchiveError(`chart archive entry "${name}" leaves the chart directory`)
}

async function readBounded(entry: AsyncIterable<Buffer>, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of entry) {
    size += chunk.length
    if (size > max) throw new ChartArchiveError(`${what} is larger than ${max} bytes`)
    parts.push(chunk)
  }
  return Buffer.concat(parts)
}

/** Reads and validates the Chart.yaml of the chart archive flowing from `source`. */
export async function readChartArchive(source: Readable, limits: ChartArchiveLimits = {}): Promise<ChartMetadata> {
  const maxBytes = limits.maxDecompressedBytes ?? MAX_DECOMPRESSED_CHART_BYTES
  const maxEntries = limits.maxEntries ?? MAX_CHART_ENTRIES
  let inflated = 0
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      inflated += chunk.length
      if (inflated > maxBytes) done(new ChartArchiveError(`chart archive decompresses to more than ${maxBytes} bytes`))
      else done(null, chunk)
    },
  })
  const extract = tar.extract()
  let streamFailure: unknown
  const piping = pipeline(source, createGunzip(), counter, extract).catch((err: unknown) => {
    streamFailure = err
  })
  let chartYaml: Buffer | undefined
  let entries = 0
  try {
    for await (const entry of extract) {
      entries++
      if (entries > maxEntries) throw new ChartArchiveError(`chart archive has more than ${maxEntries} entries`)
      const name = entry.header.name
      checkEntryName(name)
      const parts = name.replace(/^\.\//, '').split('/')
      if (parts.length === 1 && parts[0] === 'Chart.yaml') throw new ChartArchiveError('Chart.yaml is not in a chart directory (expected {name}/Chart.yaml)')
      if (entry.header.type === 'file' && parts.length === 2 && parts[1] === 'Chart.yaml' && chartYaml === undefined) {
        chartYaml = await readBounded(entry as unknown as AsyncIterable<Buffer>, MAX_CHART_YAML_BYTES, 'Chart.yaml')
      } else {
        // Drain: the inflated bytes are counted (and bounded) upstream.
        for await (const _chunk of entry as unknown as AsyncIterable<Buffer>) void _chunk
      }
    }
  } catch (err) {
    source.destroy()
    await piping
    if (err instanceof ChartArchiveError || err instanceof ChartMetadataError) throw err
    throw new ChartArchiveError(describe(streamFailure ?? err))
  }
  await piping
  if (streamFailure !== undefined) {
    if (streamFailure instanceof ChartArchiveError) throw streamFailure
    throw new ChartArchiveError(describe(streamFailure))
  }
  if (entries === 0) throw new ChartArchiveError('chart archive is empty')
  if (chartYaml === undefined) throw new ChartArchiveError('chart archive has no Chart.yaml in its chart directory')
  return parseChartYaml(chartYaml.toString('utf8'))
}

function describe(err: unknown): string {
  if (err instanceof ChartArchiveError) return err.message
  const e = err as NodeJS.ErrnoException
  if (e?.code === 'Z_DATA_ERROR' || e?.code === 'Z_BUF_ERROR') return `not a gzip-compressed chart archive (${e.message})`
  return `not a valid chart archive (${e?.message ?? String(err)})`
}
