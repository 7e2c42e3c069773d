// Writes a large OCI image layout on disk (image-spec image-layout.md) for skopeo to copy: N layers,
// each a gzip stream of a tar holding one file of pseudo-random (incompressible) bytes, so neither
// registry nor client can shortcut the bytes. gzip runs at level 0 (stored deflate blocks): the
// layer is a valid tar+gzip, and generating 500 MiB stays cheap on a busy machine.
import { createCipheriv, createHash } from 'node:crypto'
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { MiB } from './measure.ts'

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
const TAR_BLOCK = 512
const IO_CHUNK = 1 * MiB

export interface GeneratedImage {
  /** The layout directory (use as `oci:<dir>:<tag>`). */
  dir: string
  tag: string
  manifestDigest: string
  /** Sum of config, layer and manifest sizes. */
  totalBytes: number
  layers: { digest: string; size: number }[]
}

/** A ustar header for one regular file (POSIX tar, pax-free: the name is short). */
function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(TAR_BLOCK)
  const octal = (value: number, offset: number, length: number) => h.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii')
  h.write(name, 0, 100, 'utf8')
  octal(0o644, 100, 8)
  octal(0, 108, 8)
  octal(0, 116, 8)
  octal(size, 124, 12)
  octal(0, 136, 12)
  h.write('        ', 148, 8, 'ascii') // checksum field counts as spaces while summing
  h.write('0', 156, 1, 'ascii')
  h.write('ustar\0', 257, 6, 'ascii')
  h.write('00', 263, 2, 'ascii')
  let sum = 0
  for (const byte of h) sum += byte
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii')
  return h
}

/** The bytes of a tar with one file of `size` AES-CTR keystream bytes (distinct per `seed`). */
async function* randomTar(name: string, size: number, seed: number): AsyncGenerator<Buffer> {
  const key = createHash('sha256').update(`ak-bench-layer-${seed}`).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const zeros = Buffer.alloc(IO_CHUNK)
  yield tarHeader(name, size)
  for (let left = size; left > 0; left -= IO_CHUNK) yield cipher.update(zeros.subarray(0, Math.min(IO_CHUNK, left)))
  const pad = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK
  yield Buffer.alloc(pad + 2 * TAR_BLOCK) // padding, then the two zero blocks that end the archive
}

/** A pass-through that hashes and counts what flows by. */
class Digester extends Transform {
  readonly hash = createHash('sha256')
  size = 0
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk)
    this.size += chunk.length
    done(null, chunk)
  }
}

function writeBlob(dir: string, data: string): { digest: string; size: number } {
  const buf = Buffer.from(data)
  const hex = createHash('sha256').update(buf).digest('hex')
  writeFileSync(join(dir, 'blobs', 'sha256', hex), buf)
  return { digest: `sha256:${hex}`, size: buf.length }
}

/** Writes an OCI layout with `layers` layers of `layerBytes` random bytes each; `seed` varies the content. */
export async function generateImage(dir: string, layers: number, layerBytes: number, seed = Date.now()): Promise<GeneratedImage> {
  const blobs = join(dir, 'blobs', 'sha256')
  mkdirSync(blobs, { recursive: true })
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  const made: { digest: string; size: number; diffId: string }[] = []
  for (let i = 0; i < layers; i++) {
    const tmp = join(dir, `layer-${i}.tmp`)
    const uncompressed = new Digester()
    const compressed = new Digester()
    await pipeline(Readable.from(randomTar(`data/layer-${i}.bin`, layerBytes, seed * 31 + i)), uncompressed, createGzip({ level: 0 }), compressed, createWriteStream(tmp))
    const hex = compressed.hash.digest('hex')
    renameSync(tmp, join(blobs, hex))
    made.push({ digest: `sha256:${hex}`, size: compressed.size, diffId: `sha256:${uncompressed.hash.digest('hex')}` })
  }
  const config = writeBlob(
    dir,
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin'] },
      rootfs: { type: 'layers', diff_ids: made.map((l) => l.diffId) },
    }),
  )
  const manifest = writeBlob(
    dir,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, ...config },
      layers: made.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
    }),
  )
  const tag = 'v1'
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: OCI_MANIFEST, ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  )
  const totalBytes = config.size + manifest.size + made.reduce((n, l) => n + l.size, 0)
  return { dir, tag, manifestDigest: manifest.digest, totalBytes, layers: made.map(({ digest, size }) => ({ digest, size })) }
}
