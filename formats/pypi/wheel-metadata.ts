import { PassThrough, type Readable } from 'node:stream'
import yauzl from 'yauzl'
import { InvalidInputError, type BlobStore } from '../../store/index.ts'
import { MAX_CENTRAL_DIRECTORY_BYTES, MAX_CORE_METADATA_BYTES, MAX_WHEEL_ENTRIES } from './constants.ts'
import { normalizeProjectName } from './names.ts'

export interface WheelMetadataLimits {
  /** @default MAX_CORE_METADATA_BYTES */
  maxMetadataBytes?: number
  /** @default MAX_WHEEL_ENTRIES */
  maxEntries?: number
}

/** Where the wheel's bytes are: a stored blob, read by ranges (never whole). */
export interface StoredFile {
  blobs: BlobStore
  sha256: string
  size: number
}

// The end-of-central-directory record is 22 bytes plus a comment of at most 65,535.
const EOCD_SEARCH = 22 + 0xffff

/**
 * A yauzl reader over a stored blob: the tail (EOCD and central directory) is read once into
 * memory, since yauzl reads the directory in many small pieces; entry data comes by range.
 */
class BlobRangeReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly file: StoredFile,
    private readonly tail: Buffer,
  ) {
    super()
  }

  private get tailStart(): number {
    return this.file.size - this.tail.length
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    if (position >= this.tailStart && position + length <= this.file.size) {
      this.tail.copy(buffer, offset, position - this.tailStart, position - this.tailStart + length)
      setImmediate(callback, null)
      return
    }
    super.read(buffer, offset, length, position, callback)
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough()
    if (end <= start) {
      out.end()
      return out
    }
    this.file.blobs.open(this.file.sha256, { start, end: end - 1 }).then(
      (source) => {
        source.on('error', (err) => out.destroy(err))
        out.on('close', () => source.destroy())
        source.pipe(out)
      },
      (err: Error) => out.destroy(err),
    )
    return out
  }
}

async function readRange(file: StoredFile, start: number, end: number): Promise<Buffer> {
  if (end <= start) return Buffer.alloc(0)
  const chunks: Buffer[] = []
  for await (const chunk of await file.blobs.open(file.sha256, { start, end: end - 1 })) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** The last bytes of the zip: the EOCD search window, extended to cover the central directory when it is bounded. */
async function readTail(file: StoredFile): Promise<Buffer> {
  const window = await readRange(file, Math.max(0, file.size - EOCD_SEARCH), file.size)
  const at = window.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
  if (at < 0 || at + 22 > window.length) return window // yauzl reports the malformed archive
  const cdSize = window.readUInt32LE(at + 12)
  const cdOffset = window.readUInt32LE(at + 16)
  if (cdOffset === 0xffffffff || cdOffset >= file.size) return window // zip64 or nonsense: yauzl reads by range
  const tailBytes = file.size - cdOffset
  if (tailBytes <= window.length || tailBytes > MAX_CENTRAL_DIRECTORY_BYTES || cdSize > tailBytes) return window
  return readRange(file, cdOffset, file.size)
}

function invalid(why: string): InvalidInputError {
  return new InvalidInputError(`Invalid wheel: ${why}`)
}

/**
 * Extracts `{name}-{version}.dist-info/METADATA` from a stored wheel, bounded: the central
 * directory may list at most `maxEntries` entries, the wheel must hold exactly one .dist-info
 * directory (named for `project`) with a WHEEL file, and METADATA may not declare nor inflate to
 * more than `maxMetadataBytes` (a zip bomb is cut off as soon as it overruns its declared size).
 */
export async function readWheelMetadata(file: StoredFile, project: string, limits: WheelMetadataLimits = {}): Promise<Buffer> {
  const maxMetadataBytes = limits.maxMetadataBytes ?? MAX_CORE_METADATA_BYTES
  const maxEntries = limits.maxEntries ?? MAX_WHEEL_ENTRIES
  const tail = await readTail(file)
  const reader = new BlobRangeReader(file, tail)
  let zip: yauzl.ZipFile
  try {
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.fromRandomAccessReader(
        reader,
        file.size,
        { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false, decodeStrings: true },
        (err, z) => (err ? reject(err) : resolve(z)),
      ),
    )
  } catch (err) {
    throw invalid(`not a readable zip archive (${(err as Error).message})`)
  }
  try {
    if (zip.entryCount > maxEntries) throw invalid(`${zip.entryCount} entries exceed the maximum of ${maxEntries}`)
    const distInfoDirs = new Set<string>()
    const metadataEntries = new Map<string, yauzl.Entry>()
    const wheelFiles = new Set<string>()
    await new Promise<void>((resolve, reject) => {
      zip.on('error', (err: Error) => reject(invalid(`corrupt zip archive (${err.message})`)))
      zip.on('end', () => resolve())
      zip.on('entry', (entry: yauzl.Entry) => {
        const m = /^([^/]+\.dist-info)\/(.*)$/.exec(entry.fileName)
        if (m) {
          const [, dir, rest] = m as unknown as [string, string, string]
          distInfoDirs.add(dir)
          if (rest === 'METADATA') metadataEntries.set(dir, entry)
          if (rest === 'WHEEL') wheelFiles.add(dir)
        }
        zip.readEntry()
      })
      zip.readEntry()
    })
    // As pip does: exactly one top-level .dist-info directory, named for the project.
    if (distInfoDirs.size === 0) throw invalid('no .dist-info directory')
    if (distInfoDirs.size > 1) throw invalid(`several .dist-info directories (${[...distInfoDirs].join(', ')})`)
    const dir = [...distInfoDirs][0] as string
    const dirProject = dir.slice(0, -'.dist-info'.length).split('-')[0] ?? ''
    if (normalizeProjectName(dirProject) !== normalizeProjectName(project)) {
      throw invalid(`the .dist-info directory '${dir}' does not belong to project '${project}'`)
    }
    if (!wheelFiles.has(dir)) throw invalid(`no ${dir}/WHEEL file`)
    const entry = metadataEntries.get(dir)
    if (!entry) throw invalid(`no ${dir}/METADATA file`)
    if (entry.isEncrypted()) throw invalid(`${dir}/METADATA is encrypted`)
    if (entry.uncompressedSize > maxMetadataBytes) {
      throw invalid(`${dir}/METADATA declares ${entry.uncompressedSize} bytes, more than the maximum of ${maxMetadataBytes}`)
    }
    return await readEntryBounded(zip, entry, maxMetadataBytes)
  } finally {
    zip.close()
  }
}

/** Inflates one entry, refusing it as soon as it yields more than its declared size or the cap. */
async function readEntryBounded(zip: yauzl.ZipFile, entry: yauzl.Entry, cap: number): Promise<Buffer> {
  const limit = Math.min(cap, entry.uncompressedSize)
  const stream = await new Promise<Readable>((resolve, reject) =>
    zip.openReadStream(entry, (err, s) => (err ? reject(invalid(`cannot read ${entry.fileName} (${err.message})`)) : resolve(s))),
  )
  const chunks: Buffer[] = []
  let total = 0
  try {
    for await (const chunk of stream) {
      total += (chunk as Buffer).length
      if (total > limit) {
        throw invalid(`${entry.fileName} inflates beyond its declared ${entry.uncompressedSize} bytes (a zip bomb?)`)
      }
      chunks.push(chunk as Buffer)
    }
  } catch (err) {
    stream.destroy()
    if (err instanceof InvalidInputError) throw err
    const message = (err as Error).message
    // yauzl's own size check (validateEntrySizes) can notice the overrun first.
    if (/too many bytes/i.test(message)) {
      throw invalid(`${entry.fileName} inflates beyond its declared ${entry.uncompressedSize} bytes (a zip bomb?)`)
    }
    throw invalid(`cannot inflate ${entry.fileName} (${message})`)
  }
  return Buffer.concat(chunks)
}
