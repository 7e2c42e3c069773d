import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'

export interface TarEntry {
  name: string
  body: string | Buffer
}

/** A gzipped tarball of `entries`, in memory (test data is small). */
export async function makeTgz(entries: TarEntry[]): Promise<Buffer> {
  const p = pack()
  const chunks: Buffer[] = []
  p.on('data', (c: unknown) => chunks.push(c as Buffer))
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', resolve)
    p.on('error', reject)
  })
  for (const e of entries) p.entry({ name: e.name }, e.body)
  p.finalize()
  await ended
  return gzipSync(Buffer.concat(chunks))
}

/** An npm package tarball: package/package.json plus package/index.js. */
export function makePackageTgz(manifest: Record<string, unknown>, code = 'module.exports = 1\n'): Promise<Buffer> {
  return makeTgz([
    { name: 'package/package.json', body: JSON.stringify(manifest) },
    { name: 'package/index.js', body: code },
  ])
}

export function sriSha512(data: Buffer): string {
  return `sha512-${createHash('sha512').update(data).digest('base64')}`
}

export function sha1Hex(data: Buffer): string {
  return createHash('sha1').update(data).digest('hex')
}

/** The document `npm publish` PUTs (libnpmpublish's shape), for `tgz` of `name@version`. */
export function publishDocument(
  name: string,
  version: string,
  tgz: Buffer,
  options: { manifest?: Record<string, unknown>; tag?: string; integrity?: string; shasum?: string } = {},
): Record<string, unknown> {
  const file = `${name}-${version}.tgz`
  return {
    _id: name,
    name,
    description: `the ${name} package`,
    'dist-tags': { [options.tag ?? 'latest']: version },
    versions: {
      [version]: {
        name,
        version,
        description: `the ${name} package`,
        ...options.manifest,
        _id: `${name}@${version}`,
        dist: {
          integrity: options.integrity ?? sriSha512(tgz),
          shasum: options.shasum ?? sha1Hex(tgz),
          tarball: `http://example.invalid/${name}/-/${file}`,
        },
      },
    },
    access: 'public',
    _attachments: { [file]: { content_type: 'application/octet-stream', data: tgz.toString('base64'), length: tgz.length } },
  }
}
