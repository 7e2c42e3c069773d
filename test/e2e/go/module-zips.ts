import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import yauzl from 'yauzl'

// yazl ships no types and the project has no @types/yazl: type the little we use here.
interface YazlZipFile {
  outputStream: NodeJS.ReadableStream
  addBuffer(buffer: Buffer, name: string, options?: { compress?: boolean; mtime?: Date }): void
  addEmptyDirectory(name: string, options?: { mtime?: Date }): void
  end(): void
}
const require = createRequire(import.meta.url)
const yazl = require('yazl') as { ZipFile: new () => YazlZipFile }

/** A fixed mtime, so the same files always make the same zip bytes. */
const MTIME = new Date('2024-01-02T03:04:05Z')

export interface ZipEntry {
  name: string
  data?: string | Buffer
  /** An empty directory entry instead of a file. */
  dir?: boolean
  /** @default true */
  compress?: boolean
}

/** Builds a zip with yazl from the given entries, in order. */
export async function buildZip(entries: ZipEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile()
  for (const e of entries) {
    if (e.dir) zip.addEmptyDirectory(e.name, { mtime: MTIME })
    else zip.addBuffer(Buffer.from(e.data ?? ''), e.name, { compress: e.compress ?? true, mtime: MTIME })
  }
  zip.end()
  const parts: Buffer[] = []
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) parts.push(chunk)
  return Buffer.concat(parts)
}

/** A module zip: every file under `{module}@{version}/`. */
export function moduleZip(module: string, version: string, files: Record<string, string | Buffer>): Promise<Buffer> {
  return buildZip(Object.entries(files).map(([name, data]) => ({ name: `${module}@${version}/${name}`, data })))
}

/** A small library module with one exported function returning `greeting`. */
export function libraryModule(module: string, version: string, greeting: string): Promise<Buffer> {
  const pkg = module.split('/').at(-1)!.toLowerCase().replace(/[^a-z0-9]/g, '')
  return moduleZip(module, version, {
    'go.mod': `module ${module}\n\ngo 1.19\n`,
    [`${pkg}.go`]: `package ${pkg}\n\n// Greeting says hello.\nfunc Greeting() string { return ${JSON.stringify(greeting)} }\n`,
    LICENSE: 'MIT\n',
  })
}

/** Replaces every occurrence of `from` with `to` (same length) in a zip, e.g. to forge names yazl refuses. */
export function patchBytes(zip: Buffer, from: string, to: string): Buffer {
  if (from.length !== to.length) throw new Error('patchBytes needs same-length strings')
  const out = Buffer.from(zip)
  const needle = Buffer.from(from)
  for (let i = out.indexOf(needle); i >= 0; i = out.indexOf(needle, i + 1)) out.write(to, i)
  return out
}

/**
 * Rewrites the uncompressed size that the central directory (and local header) declares for
 * every entry: a header that lies about how much its data inflates to.
 */
export function lieAboutSizes(zip: Buffer, declared: number): Buffer {
  const out = Buffer.from(zip)
  for (let i = 0; i + 4 <= out.length; i++) {
    const sig = out.readUInt32LE(i)
    if (sig === 0x02014b50) out.writeUInt32LE(declared, i + 24)
    else if (sig === 0x04034b50) out.writeUInt32LE(declared, i + 22)
  }
  return out
}

/** A yauzl reader over a buffer, for checking zips without a store. */
export class BufferReader extends yauzl.RandomAccessReader {
  constructor(private readonly buf: Buffer) {
    super()
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return Readable.from([this.buf.subarray(start, end)])
  }
}
