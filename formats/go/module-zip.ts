import { createHash } from 'node:crypto'
import { PassThrough, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import yauzl from 'yauzl'
import type { BlobStore } from '../../store/index.ts'
import { InvalidInputError } from '../../store/index.ts'
import { MAX_GO_MOD_BYTES, MAX_LICENSE_BYTES, MAX_ZIP_BYTES, MAX_ZIP_ENTRIES } from './constants.ts'
import { checkFilePath, foldCase } from './module-path.ts'

/**
 * Checks a module zip against the rules of the Go module reference ("Module zip files") as
 * golang.org/x/mod/zip.CheckZip applies them, reading the stored blob by ranges (central
 * directory first, then each entry), never the whole file into memory:
 * - every entry lies under `{module}@{version}/` and names a clean, valid file path;
 * - no two entries fold to the same path (case-insensitive file systems), no path is both a
 *   file and a directory;
 * - go.mod, if any, only at the module root, spelled 'go.mod', at most 16 MiB; LICENSE at most
 *   16 MiB; the uncompressed contents at most 500 MiB in all;
 * - no vendored package files (files below a vendor/ sub-directory: the go command leaves them
 *   out of module zips) and no nested go.mod (a sub-directory with go.mod is another module);
 * - every entry decompresses to exactly its declared size (a lying header, a corrupt stream or
 *   a decompression bomb fails here, bounded by the 500 MiB total).
 */

export interface ModuleZipSummary {
  /** The module's go.mod bytes (at most MAX_GO_MOD_BYTES), or undefined when the zip has none. */
  goMod: Buffer | undefined
  files: number
  /** Sum of the entries' uncompressed sizes. */
  uncompressedBytes: number
  /** The zip's go.sum hash ("h1:…", golang.org/x/mod/sumdb/dirhash.HashZip). */
  h1: string
}

export interface ModuleZipLimits {
  /** @default MAX_ZIP_BYTES */
  maxUncompressedBytes?: number
  /** @default MAX_ZIP_ENTRIES */
  maxEntries?: number
}

/** A yauzl reader over a stored blob: each read is a ranged read from the store. */
class BlobRangeReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly blobs: BlobStore,
    private readonly sha256: string,
  ) {
    super()
  }

  override _readStreamForRange(start: number, end: number): Readable {
    if (end <= start) return Readable.from([])
    const out = new PassThrough()
    this.blobs.open(this.sha256, { start, end: end - 1 }).then(
      (source) => pipeline(source, out).catch((err: unknown) => out.destroy(err as Error)),
      (err: unknown) => out.destroy(err as Error),
    )
    return out
  }
}

/** The zip reader for a blob in the store. */
export function blobZipReader(blobs: BlobStore, sha256: string): yauzl.RandomAccessReader {
  return new BlobRangeReader(blobs, sha256)
}

/** Files below a vendor/ sub-directory (vendor/x/y.go), which module zips never carry. */
function isVendoredPackage(name: string): boolean {
  let i: number
  if (name.startsWith('vendor/')) i = 'vendor/'.length
  else {
    const j = name.indexOf('/vendor/')
    if (j < 0) return false
    i = j + '/vendor/'.length
  }
  return name.slice(i).includes('/')
}

/** path.Clean's verdict without normalising: no '.', '..' or empty elements. */
function isClean(name: string): boolean {
  return name.split('/').every((e) => e !== '' && e !== '.' && e !== '..')
}

/** Reads an entry to its end and hashes it, keeping at most `keep` bytes (0: drain only). */
async function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, keep: number): Promise<{ sha256: string; kept: Buffer }> {
  const stream = await zip.openReadStreamPromise(entry)
  const hash = createHash('sha256')
  const parts: Buffer[] = []
  let kept = 0
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _enc, done) {
        hash.update(chunk)
        if (kept < keep) {
          parts.push(chunk)
          kept += chunk.length
        }
        done()
      },
    }),
  )
  return { sha256: hash.digest('hex'), kept: Buffer.concat(parts) }
}

const EMPTY_SHA256 = createHash('sha256').digest('hex')

/**
 * Go's "h1:" hash of a file tree (golang.org/x/mod/sumdb/dirhash.Hash1): sha256 over the lines
 * "{sha256 hex}  {name}\n" sorted by name (byte order), base64.
 */
export function hash1(files: Iterable<{ name: string; sha256: string }>): string {
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
  const h = createHash('sha256')
  for (const f of sorted) h.update(`${f.sha256}  ${f.name}\n`)
  return `h1:${h.digest('base64')}`
}

/** The go.sum hash of a go.mod file ("{module} {version}/go.mod h1:…"). */
export function goModHash1(goMod: Buffer | string): string {
  return hash1([{ name: 'go.mod', sha256: createHash('sha256').update(goMod).digest('hex') }])
}

class CollisionChecker {
  private readonly seen = new Map<string, { path: string; dir: boolean }>()

  check(path: string, dir: boolean): string | undefined {
    const fold = foldCase(path)
    const other = this.seen.get(fold)
    if (other) {
      if (other.path !== path) return `case-insensitive file name collision: "${other.path}" and "${path}"`
      if (other.dir !== dir) return `entry "${path}" is both a file and a directory`
      if (!dir) return `multiple entries for file "${path}"`
      return undefined
    }
    this.seen.set(fold, { path, dir })
    const slash = path.lastIndexOf('/')
    return slash > 0 ? this.check(path.slice(0, slash), true) : undefined
  }
}

/**
 * Validates the module zip `reader` of `size` bytes for `module`@`version`. Throws
 * InvalidInputError naming the first problem; resolves with the go.mod and counts.
 */
export async function checkModuleZip(
  reader: yauzl.RandomAccessReader,
  size: number,
  module: string,
  version: string,
  limits: ModuleZipLimits = {},
): Promise<ModuleZipSummary> {
  const maxBytes = limits.maxUncompressedBytes ?? MAX_ZIP_BYTES
  const maxEntries = limits.maxEntries ?? MAX_ZIP_ENTRIES
  const bad = (msg: string) => new InvalidInputError(`invalid module zip for ${module}@${version}: ${msg}`)
  if (size > maxBytes) throw bad(`zip file too large (max size is ${maxBytes} bytes)`)
  let zip: yauzl.ZipFile
  try {
    zip = await yauzl.fromRandomAccessReaderPromise(reader, size, {
      lazyEntries: true,
      autoClose: false,
      validateEntrySizes: true,
      strictFileNames: true,
      decodeStrings: true,
    })
  } catch (err) {
    throw bad(`not a readable zip file (${(err as Error).message})`)
  }
  const prefix = `${module}@${version}/`
  const collisions = new CollisionChecker()
  let total = 0
  let files = 0
  let goMod: Buffer | undefined
  const hashes: { name: string; sha256: string }[] = []
  try {
    if (zip.entryCount > maxEntries) throw bad(`${zip.entryCount} entries; at most ${maxEntries} are accepted`)
    for await (const entry of zip.eachEntry()) {
      const full = entry.fileName
      if (full.includes('\n')) throw bad('file names with newlines are not supported')
      if (!full.startsWith(prefix)) throw bad(`"${full}": path does not have prefix "${prefix}"`)
      let name = full.slice(prefix.length)
      if (name === '') {
        hashes.push({ name: full, sha256: EMPTY_SHA256 })
        continue
      }
      const dir = name.endsWith('/')
      if (dir) name = name.slice(0, -1)
      if (!isClean(name)) throw bad(`"${name}": file path is not clean`)
      const pathErr = checkFilePath(name)
      if (pathErr) throw bad(`"${name}": malformed file path: ${pathErr}`)
      const collision = collisions.check(name, dir)
      if (collision) throw bad(collision)
      if (dir) {
        hashes.push({ name: full, sha256: EMPTY_SHA256 })
        continue
      }
      files++
      const base = name.slice(name.lastIndexOf('/') + 1)
      if (base.toLowerCase() === 'go.mod') {
        if (base !== name) throw bad(`"${name}": go.mod file not in module root directory (a sub-directory with go.mod is a separate module)`)
        if (name !== 'go.mod') throw bad(`"${name}": go.mod files must be named exactly go.mod`)
      }
      if (isVendoredPackage(name)) throw bad(`"${name}": vendored package files are not part of a module zip`)
      if (entry.isEncrypted()) throw bad(`"${name}": encrypted entries are not supported`)
      if (!entry.canDecodeFileData()) throw bad(`"${name}": unsupported compression method ${entry.compressionMethod}`)
      const sz = entry.uncompressedSize
      if (total + sz > maxBytes) throw bad(`total uncompressed size of module contents too large (max size is ${maxBytes} bytes)`)
      total += sz
      if (name === 'go.mod' && sz > MAX_GO_MOD_BYTES) throw bad(`go.mod file too large (max size is ${MAX_GO_MOD_BYTES} bytes)`)
      if (name === 'LICENSE' && sz > MAX_LICENSE_BYTES) throw bad(`LICENSE file too large (max size is ${MAX_LICENSE_BYTES} bytes)`)
      try {
        const read = await readEntry(zip, entry, name === 'go.mod' ? MAX_GO_MOD_BYTES : 0)
        hashes.push({ name: full, sha256: read.sha256 })
        if (name === 'go.mod') goMod = read.kept
      } catch (err) {
        throw bad(`"${name}": cannot be decompressed (${(err as Error).message})`)
      }
    }
  } catch (err) {
    if (err instanceof InvalidInputError) throw err
    throw bad((err as Error).message)
  } finally {
    zip.close()
  }
  return { goMod, files, uncompressedBytes: total, h1: hash1(hashes) }
}
