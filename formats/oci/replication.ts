import type { FormatReplicationHooks } from '../../store/index.ts'
import type { ReplicationContext } from '../core/index.ts'
import { OCI_FORMAT } from './constants.ts'
import { createOciIndex } from './oci-db.ts'

/*
 * OCI under replication: manifests and tags are artifacts (`<image>/_manifests/sha256/<hex>`,
 * `<image>/_tags/<tag>`), so they replicate as artifact events; this hook rebuilds the oci_*
 * index rows from them. A manifest artifact's properties carry what its row needs (digest,
 * mediaType, artifactType, subject, annotations: routes-manifests.ts records them at push).
 * Tags are mutable paths: the latest write by HLC wins on every node, even in an immutable
 * repository (which refuses a local tag move, but must still converge on concurrent ones).
 */

const MANIFEST = /^(.+)\/_manifests\/sha256\/([0-9a-f]{64})$/
const TAG = /^(.+)\/_tags\/([^/]+)$/

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)

function stringMap(v: unknown): Record<string, string> | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null
  return Object.values(v).every((x) => typeof x === 'string') ? (v as Record<string, string>) : null
}

export function isOciMutablePath(path: string): boolean {
  return TAG.test(path)
}

export function ociReplicationHooks(ctx: ReplicationContext): FormatReplicationHooks {
  const index = createOciIndex(ctx.db)
  return {
    format: OCI_FORMAT,
    isMutablePath: isOciMutablePath,
    artifactChanged({ repo, path, artifact }) {
      const m = MANIFEST.exec(path)
      if (m) {
        const [, image, hex] = m as unknown as [string, string, string]
        const digest = `sha256:${hex}`
        if (!artifact) {
          index.deleteManifest(repo, image, digest)
          index.pruneImage(repo, image)
          return
        }
        const p = artifact.properties
        index.putManifest({
          repo,
          name: image,
          digest,
          mediaType: str(p.mediaType) ?? artifact.contentType ?? 'application/octet-stream',
          size: artifact.size,
          artifactType: str(p.artifactType),
          subject: str(p.subject),
          annotations: stringMap(p.annotations),
        })
        return
      }
      const t = TAG.exec(path)
      if (t) {
        const [, image, tag] = t as unknown as [string, string, string]
        if (!artifact) {
          index.deleteTag(repo, image, tag)
          return
        }
        // A tag's bytes are those of the manifest it names.
        index.setTag(repo, image, tag, str(artifact.properties.digest) ?? `sha256:${artifact.sha256}`)
      }
    },
  }
}
