import type { FormatReplicationHooks } from '../../store/index.ts'
import { REMOTE_METADATA_DIR, type ReplicationContext } from '../core/index.ts'
import { BLOBS_PREFIX, OCI_FORMAT } from './constants.ts'
import { isImageName, TAG as TAG_NAME } from './names.ts'
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

const BLOB = new RegExp(`^${BLOBS_PREFIX}/[0-9a-f]{64}$`)
const REMOTE_TAGS_PREFIX = `${REMOTE_METADATA_DIR}/`
const REMOTE_TAGS_SUFFIX = '/tags.json'

/**
 * Why a replicated path is none an OCI repository writes: blobs, manifests and tags of an image
 * whose name follows the distribution spec's grammar (tags theirs too), a remote's tag list.
 */
export function ociPathProblem(path: string): string | undefined {
  if (BLOB.test(path)) return undefined
  let image: string | undefined
  let tag: string | undefined
  const m = MANIFEST.exec(path)
  const t = TAG.exec(path)
  if (m) image = m[1]
  else if (t) [, image, tag] = t
  else if (path.startsWith(REMOTE_TAGS_PREFIX) && path.endsWith(REMOTE_TAGS_SUFFIX)) {
    image = path.slice(REMOTE_TAGS_PREFIX.length, -REMOTE_TAGS_SUFFIX.length)
  }
  if (image === undefined) return `'${path}' is not an OCI blob, manifest or tag path`
  if (!isImageName(image)) return `invalid image name '${image}'`
  if (tag !== undefined && !TAG_NAME.test(tag)) return `invalid tag '${tag}'`
  return undefined
}

export function ociReplicationHooks(ctx: ReplicationContext): FormatReplicationHooks {
  const index = createOciIndex(ctx.db)
  return {
    format: OCI_FORMAT,
    isMutablePath: isOciMutablePath,
    pathProblem: ociPathProblem,
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
