// Builds OCI image layouts on disk (image-spec image-layout.md) for skopeo to copy from, and
// small HTTP helpers for driving the registry directly.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { execFile } from 'node:child_process'
import tar from 'tar-stream'

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
export const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json'
export const HELM_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip'

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { architecture: string; os: string }
  annotations?: Record<string, string>
}

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** A gzipped tar of the given files, built in memory (test data is small). */
export async function tarGz(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer))
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve)
    pack.on('error', reject)
  })
  for (const [name, content] of Object.entries(files)) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name, mtime: new Date(0), mode: 0o644 }, content, (err) => (err ? reject(err) : resolve())),
    )
  }
  pack.finalize()
  await done
  return gzipSync(Buffer.concat(chunks))
}

/** An OCI layout directory being filled: blobs are written as they are added. */
export class Layout {
  readonly manifests: Descriptor[] = []
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true })
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  }

  addBlob(data: Buffer | string, mediaType: string): Descriptor {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data)
    const digest = sha256(buf)
    writeFileSync(join(this.dir, 'blobs', 'sha256', digest.slice(7)), buf)
    return { mediaType, digest, size: buf.length }
  }

  readBlob(digest: string): Buffer {
    return readFileSync(join(this.dir, 'blobs', 'sha256', digest.slice(7)))
  }

  /** An image manifest with one layer holding `files`; returns its descriptor. */
  async addImage(files: Record<string, string>, opts: { arch?: string; configMediaType?: string; layerMediaType?: string; config?: object } = {}): Promise<Descriptor> {
    const arch = opts.arch ?? 'amd64'
    const layer = this.addBlob(await tarGz(files), opts.layerMediaType ?? OCI_LAYER)
    const config = this.addBlob(
      JSON.stringify(
        opts.config ?? {
          architecture: arch,
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [uncompressedDigest(this.readBlob(layer.digest))] },
          config: { Env: ['A=1'] },
        },
      ),
      opts.configMediaType ?? OCI_CONFIG,
    )
    const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }
    const d = this.addBlob(JSON.stringify(manifest), OCI_MANIFEST)
    return { ...d, platform: { architecture: arch, os: 'linux' } }
  }

  /** An image index over the given manifests; returns its descriptor. */
  addIndex(manifests: Descriptor[]): Descriptor {
    return this.addBlob(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }), OCI_INDEX)
  }

  /** Names `d` as `tag` in index.json and writes it. */
  tag(d: Descriptor, tag: string): void {
    const { platform: _p, ...plain } = d
    this.manifests.push({ ...plain, annotations: { 'org.opencontainers.image.ref.name': tag } })
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: this.manifests }))
  }
}

function uncompressedDigest(gz: Buffer): string {
  return sha256(gunzipSync(gz))
}

/** Runs a client command with a timeout; resolves with exit code and output, never rejects. */
export function run(cmd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) ?? 1 : 0
      resolve({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) })
    })
  })
}
