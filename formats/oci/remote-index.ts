import type { BlobRecord, BlobStore } from '../../store/index.ts'
import { MAX_MANIFEST_BYTES, MAX_REPLICATED_ANNOTATIONS_BYTES, OCI_INDEX } from './constants.ts'
import { ManifestTooLargeError } from './errors.ts'
import type { ParsedManifest } from './manifest.ts'
import type { ManifestRow } from './oci-db.ts'

/**
 * Small pure helpers of remote OCI repositories: where an image lives upstream, the properties a
 * fetched manifest is recorded with, the upstream tags list, and the referrers document.
 */

/**
 * The image's name on the upstream. The upstream URL's path, if any, is a name prefix: with
 * `http://node:8080/images` (a local repository `images` of another node) or
 * `https://registry-1.docker.io/library`, image `team/app` is `images/team/app` or
 * `library/team/app` there; a leading `/v2` in the URL is ignored.
 */
export function upstreamName(upstreamUrl: string, image: string): string {
  const segments = new URL(upstreamUrl).pathname.split('/').filter((s) => s !== '')
  if (segments[0] === 'v2') segments.shift()
  return [...segments, image].join('/')
}

/**
 * The properties a manifest artifact carries (what another node of the mesh rebuilds its
 * oci_manifests row from; formats/oci/replication.ts reads them), as a push records them.
 */
export function manifestProperties(digest: string, parsed: ParsedManifest): Record<string, unknown> {
  return {
    digest,
    mediaType: parsed.mediaType,
    ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
    ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
    ...(parsed.annotations && JSON.stringify(parsed.annotations).length <= MAX_REPLICATED_ANNOTATIONS_BYTES ? { annotations: parsed.annotations } : {}),
  }
}

/** The tags of an upstream `tags/list` answer (distribution-spec § Listing Tags); throws when it is not one. */
export function parseTagList(body: Buffer): string[] {
  const doc = JSON.parse(body.toString('utf8')) as { tags?: unknown }
  if (typeof doc !== 'object' || doc === null) throw new Error('tags list is not a JSON object')
  if (doc.tags === null || doc.tags === undefined) return []
  if (!Array.isArray(doc.tags) || doc.tags.some((t) => typeof t !== 'string')) throw new Error('tags must be an array of strings')
  return doc.tags as string[]
}

/** The referrers answer: an image index of `rows` (distribution-spec § Listing Referrers). */
export function oneManifestIndex(rows: ManifestRow[]): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: rows.map((r) => ({
      mediaType: r.mediaType,
      digest: r.digest,
      size: r.size,
      ...(r.artifactType ? { artifactType: r.artifactType } : {}),
      ...(r.annotations ? { annotations: r.annotations } : {}),
    })),
  }
}

/** A stored manifest's bytes (bounded: manifests are parsed whole). */
export async function readStoredManifest(blobs: BlobStore, blob: BlobRecord): Promise<Buffer> {
  if (blob.size > MAX_MANIFEST_BYTES) throw new ManifestTooLargeError(`manifest of ${blob.size} bytes exceeds ${MAX_MANIFEST_BYTES}`)
  if (blob.size === 0) return Buffer.alloc(0)
  const chunks: Buffer[] = []
  for await (const chunk of (await blobs.open(blob.sha256)) as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks)
}
