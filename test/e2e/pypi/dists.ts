import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import yazl from 'yazl'

/**
 * Builds real Python distributions in memory, offline: wheels (zip with METADATA, WHEEL and a
 * correct RECORD, per the binary distribution format) and sdists (.tar.gz with PKG-INFO and a
 * setuptools setup.py).
 */

export interface WheelSpec {
  name: string
  version: string
  /** Files of the wheel's purelib root, e.g. {'akdemo/__init__.py': 'VALUE = 42\n'}. */
  files: Record<string, string>
  requiresPython?: string
  requires?: string[]
  /** Replaces the generated METADATA text (bad-input tests). */
  metadata?: string | null
  /** Leave WHEEL out. */
  noWheelFile?: boolean
}

export function escapeName(name: string): string {
  return name.replace(/[-_.]+/g, '_')
}

export function wheelFilename(name: string, version: string): string {
  return `${escapeName(name)}-${version}-py3-none-any.whl`
}

export function coreMetadata(spec: { name: string; version: string; requiresPython?: string; requires?: string[] }): string {
  let text = `Metadata-Version: 2.1\nName: ${spec.name}\nVersion: ${spec.version}\nSummary: ${spec.name} for Artifact Keeper tests\n`
  if (spec.requiresPython) text += `Requires-Python: ${spec.requiresPython}\n`
  for (const r of spec.requires ?? []) text += `Requires-Dist: ${r}\n`
  return `${text}\n${spec.name} is a test distribution.\n`
}

function recordHash(data: Buffer): string {
  return `sha256=${createHash('sha256').update(data).digest('base64url')}`
}

async function zipToBuffer(zip: yazl.ZipFile): Promise<Buffer> {
  const chunks: Buffer[] = []
  const done = new Promise<void>((resolve, reject) => {
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c))
    zip.outputStream.on('end', () => resolve())
    zip.outputStream.on('error', reject)
  })
  zip.end()
  await done
  return Buffer.concat(chunks)
}

export async function buildWheel(spec: WheelSpec): Promise<Buffer> {
  const distInfo = `${escapeName(spec.name)}-${spec.version}.dist-info`
  const entries: [string, Buffer][] = Object.entries(spec.files).map(([p, c]) => [p, Buffer.from(c)])
  if (spec.metadata !== null) entries.push([`${distInfo}/METADATA`, Buffer.from(spec.metadata ?? coreMetadata(spec))])
  if (!spec.noWheelFile) {
    entries.push([`${distInfo}/WHEEL`, Buffer.from('Wheel-Version: 1.0\nGenerator: ak-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n')])
  }
  const record = entries.map(([p, d]) => `${p},${recordHash(d)},${d.length}`).join('\n') + `\n${distInfo}/RECORD,,\n`
  entries.push([`${distInfo}/RECORD`, Buffer.from(record)])
  const zip = new yazl.ZipFile()
  const mtime = new Date('2024-01-01T00:00:00Z')
  for (const [p, d] of entries) zip.addBuffer(d, p, { mtime })
  return zipToBuffer(zip)
}

/**
 * A wheel whose METADATA is a zip bomb: it inflates to `actualBytes` while the central directory
 * declares only `declaredBytes`.
 */
export async function buildBombWheel(name: string, version: string, actualBytes: number, declaredBytes: number): Promise<Buffer> {
  const distInfo = `${escapeName(name)}-${version}.dist-info`
  const metadataPath = `${distInfo}/METADATA`
  const zip = new yazl.ZipFile()
  zip.addBuffer(Buffer.from('Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n'), `${distInfo}/WHEEL`)
  zip.addBuffer(Buffer.concat([Buffer.from(coreMetadata({ name, version })), Buffer.alloc(actualBytes, 0x20)]), metadataPath)
  const bytes = await zipToBuffer(zip)
  // Lie about the size in the local header and the central directory entry of METADATA.
  const nameBuf = Buffer.from(metadataPath)
  let patched = 0
  for (let i = 0; i < bytes.length - 4; i++) {
    const sig = bytes.readUInt32LE(i)
    if (sig === 0x04034b50 && bytes.subarray(i + 30, i + 30 + nameBuf.length).equals(nameBuf)) {
      bytes.writeUInt32LE(declaredBytes, i + 22)
      patched++
    }
    if (sig === 0x02014b50 && bytes.subarray(i + 46, i + 46 + nameBuf.length).equals(nameBuf)) {
      bytes.writeUInt32LE(declaredBytes, i + 24)
      patched++
    }
  }
  if (patched !== 2) throw new Error(`could not patch the bomb wheel (${patched} headers)`)
  return bytes
}

export interface SdistSpec {
  name: string
  version: string
  /** Files under the top-level directory besides PKG-INFO and setup.py. */
  files: Record<string, string>
  installRequires?: string[]
  pyModules?: string[]
  requiresPython?: string
  /** Replaces PKG-INFO; null leaves it out. */
  pkgInfo?: string | null
}

export function sdistFilename(name: string, version: string): string {
  return `${escapeName(name)}-${version}.tar.gz`
}

export async function buildSdist(spec: SdistSpec): Promise<Buffer> {
  const top = `${escapeName(spec.name)}-${spec.version}`
  const setupPy =
    'from setuptools import setup\n' +
    `setup(name=${JSON.stringify(spec.name)}, version=${JSON.stringify(spec.version)},\n` +
    `      py_modules=${JSON.stringify(spec.pyModules ?? [])},\n` +
    `      install_requires=${JSON.stringify(spec.installRequires ?? [])}` +
    (spec.requiresPython ? `,\n      python_requires=${JSON.stringify(spec.requiresPython)}` : '') +
    ')\n'
  const files: Record<string, string> = { 'setup.py': setupPy, ...spec.files }
  if (spec.pkgInfo !== null) {
    files['PKG-INFO'] =
      spec.pkgInfo ?? coreMetadata({ name: spec.name, version: spec.version, requiresPython: spec.requiresPython, requires: spec.installRequires })
  }
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (c: unknown) => chunks.push(c as Buffer))
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()))
  pack.entry({ name: `${top}/`, type: 'directory', mode: 0o755 })
  for (const [p, c] of Object.entries(files)) pack.entry({ name: `${top}/${p}`, mode: 0o644, mtime: new Date('2024-01-01T00:00:00Z') }, c)
  pack.finalize()
  await ended
  return gzipSync(Buffer.concat(chunks))
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

export function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex')
}

/** The multipart form twine sends for one file (fields first, the file last). */
export function uploadForm(filename: string, data: Buffer, fields: Record<string, string>): FormData {
  const form = new FormData()
  for (const [k, v] of Object.entries(fields)) form.append(k, v)
  form.append('content', new Blob([data], { type: 'application/octet-stream' }), filename)
  return form
}

export function twineFields(name: string, version: string, filetype: 'bdist_wheel' | 'sdist', data: Buffer): Record<string, string> {
  return {
    ':action': 'file_upload',
    protocol_version: '1',
    name,
    version,
    filetype,
    pyversion: filetype === 'sdist' ? 'source' : 'py3',
    metadata_version: '2.1',
    sha256_digest: sha256(data),
    md5_digest: md5(data),
  }
}
