import { gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import { stringify } from 'yaml'

export interface TarEntry {
  name: string
  data?: string | Buffer
  type?: 'file' | 'directory' | 'symlink'
}

/** A tar archive of `entries`, in order. */
export async function buildTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack()
  const parts: Buffer[] = []
  const done = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) parts.push(chunk)
  })()
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '')
    const dir = e.type === 'directory'
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: e.name, type: e.type ?? 'file', size: dir ? 0 : data.length, mtime: new Date(0) }, dir ? '' : data, (err) =>
        err ? reject(err) : resolve(),
      ),
    )
  }
  pack.finalize()
  await done
  return Buffer.concat(parts)
}

/** A gzip-compressed tar of `entries` (a .tgz). */
export async function buildTgz(entries: TarEntry[]): Promise<Buffer> {
  return gzipSync(await buildTar(entries))
}

export interface ChartSpec {
  name: string
  version: string
  appVersion?: string
  description?: string
  apiVersion?: string
  [key: string]: unknown
}

/** A chart archive as `helm package` lays it out: {name}/Chart.yaml, values.yaml, templates/. */
export function chartTgz(spec: ChartSpec, files: Record<string, string | Buffer> = {}): Promise<Buffer> {
  const chartYaml = stringify({ apiVersion: 'v2', description: `The ${spec.name} chart`, type: 'application', appVersion: '1.0.0', ...spec })
  return buildTgz([
    { name: `${spec.name}/Chart.yaml`, data: chartYaml },
    { name: `${spec.name}/values.yaml`, data: 'replicaCount: 1\n' },
    { name: `${spec.name}/templates/configmap.yaml`, data: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n' },
    ...Object.entries(files).map(([name, data]) => ({ name: `${spec.name}/${name}`, data })),
  ])
}

/** A provenance file for a chart, shaped as `helm package --sign` writes it (the signature is not real). */
export function provenanceFor(name: string, version: string, tgz: Buffer, sha256: string): string {
  return [
    '-----BEGIN PGP SIGNED MESSAGE-----',
    'Hash: SHA512',
    '',
    `apiVersion: v2`,
    `name: ${name}`,
    `version: ${version}`,
    '',
    '...',
    'files:',
    `  ${name}-${version}.tgz: sha256:${sha256}`,
    '-----BEGIN PGP SIGNATURE-----',
    '',
    Buffer.from(`not a real signature over ${tgz.length} bytes`).toString('base64'),
    '-----END PGP SIGNATURE-----',
    '',
  ].join('\n')
}
