// Publishes a generated npm corpus (bench/formats/npm-corpus.ts) to an Artifact Keeper npm
// repository over the npm registry API directly: each version is packed here (tar-stream + gzip,
// the `package/` layout npm pack writes) and sent as the `PUT /{name}` document the npm CLI sends,
// with the tarball base64 in `_attachments`. Several packages at once, the versions of one package
// in ascending order (so `latest` ends on the newest). Much faster than one `npm publish` per
// version, which the edge benchmark does not measure.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { createGzip } from 'node:zlib'
import { pack } from 'tar-stream'
import type { Corpus, CorpusVersion } from '../formats/npm-corpus.ts'

/** Packages published at the same time. */
const PUBLISH_CONCURRENCY = 4
const PUBLISH_TIMEOUT_MS = 60_000

function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) out.push(...filesUnder(path))
    else out.push(path)
  }
  return out.sort()
}

/** The version's directory as an npm tarball (gzip of a tar whose entries are under `package/`). */
export async function packVersion(dir: string): Promise<Buffer> {
  const tar = pack()
  const gzip = createGzip()
  const chunks: Buffer[] = []
  gzip.on('data', (c: Buffer) => chunks.push(c))
  const done = new Promise<void>((resolve, reject) => {
    gzip.once('end', resolve)
    gzip.once('error', reject)
    tar.once('error', reject)
  })
  tar.pipe(gzip)
  // A fixed mtime: the same corpus packs to the same bytes.
  for (const file of filesUnder(dir)) tar.entry({ name: `package/${relative(dir, file)}`, mtime: new Date(1985, 9, 26), mode: 0o644 }, readFileSync(file))
  tar.finalize()
  await done
  return Buffer.concat(chunks)
}

/** The npm CLI's publish document for one version. */
function publishDocument(v: CorpusVersion, tarball: Buffer, registry: string): Record<string, unknown> {
  const manifest = JSON.parse(readFileSync(join(v.dir, 'package.json'), 'utf8')) as Record<string, unknown>
  const unscoped = v.name.startsWith('@') ? v.name.slice(v.name.indexOf('/') + 1) : v.name
  const file = `${unscoped}-${v.version}.tgz`
  const dist = {
    shasum: createHash('sha1').update(tarball).digest('hex'),
    integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
    tarball: `${registry}/${v.name}/-/${file}`,
  }
  return {
    _id: v.name,
    name: v.name,
    description: manifest.description,
    'dist-tags': { latest: v.version },
    versions: { [v.version]: { ...manifest, _id: `${v.name}@${v.version}`, dist } },
    access: 'public',
    _attachments: { [`${v.name}-${v.version}.tgz`]: { content_type: 'application/octet-stream', data: tarball.toString('base64'), length: tarball.length } },
  }
}

/** npm's escaping of a package name in a URL: a scoped name is one segment (`@scope%2fname`). */
export function escapedName(name: string): string {
  return name.startsWith('@') ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name)
}

/**
 * Publishes every version of the corpus to `registry` (`http://HOST/npm/REPO`, no trailing slash)
 * with `authorization`. Returns the total tarball bytes published.
 */
export async function publishCorpus(corpus: Corpus, registry: string, authorization: string): Promise<{ versions: number; tarballBytes: number }> {
  const byPackage = new Map<string, CorpusVersion[]>()
  for (const v of corpus.versions) byPackage.set(v.name, [...(byPackage.get(v.name) ?? []), v])
  const queue = [...byPackage.values()]
  let versions = 0
  let tarballBytes = 0
  const worker = async () => {
    for (let list = queue.shift(); list; list = queue.shift()) {
      for (const v of list) {
        const tarball = await packVersion(v.dir)
        const res = await fetch(`${registry}/${escapedName(v.name)}`, {
          method: 'PUT',
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify(publishDocument(v, tarball, registry)),
          signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
        })
        const text = await res.text()
        if (res.status >= 300) throw new Error(`publish of ${v.name}@${v.version} answered ${res.status}: ${text}`)
        versions++
        tarballBytes += tarball.length
      }
    }
  }
  await Promise.all(Array.from({ length: PUBLISH_CONCURRENCY }, worker))
  return { versions, tarballBytes }
}
