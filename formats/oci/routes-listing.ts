import type { FastifyReply, FastifyRequest } from 'fastify'
import { readOrder } from '../core/index.ts'
import { OCI_FORMAT, OCI_INDEX } from './constants.ts'
import { NameUnknownError } from './errors.ts'
import { parseDigest } from './names.ts'
import type { ManifestRow } from './oci-db.ts'
import { compareCodeUnits, mergeSorted, paginate, parsePage } from './pagination.ts'
import type { OciRegistry } from './registry.ts'

/** Tags list, referrers and catalog: every list generated from the index tables. */
export function listingRoutes(registry: OciRegistry) {
  const { ctx, index } = registry

  /** GET /v2/<name>/tags/list?n=&last= (distribution-spec § Listing Tags). */
  const tags = async (request: FastifyRequest, reply: FastifyReply, name: string, query: URLSearchParams) => {
    const t = registry.forRead(request, name)
    if (!registry.hasImage(t)) throw new NameUnknownError(`'${name}' has no images`, { name })
    const all = mergeSorted(t.members.map((m) => index.tags(m.key, t.name.image)))
    const page = paginate(all, parsePage(query), `/v2/${name}/tags/list`)
    if (page.link) reply.header('link', page.link)
    return reply.send({ name, tags: page.items })
  }

  /**
   * GET /v2/<name>/referrers/<digest>?artifactType= (distribution-spec § Listing Referrers):
   * an image index of the manifests whose subject is <digest>; never 404.
   */
  const referrers = async (request: FastifyRequest, reply: FastifyReply, name: string, digest: string, query: URLSearchParams) => {
    const t = registry.forRead(request, name)
    parseDigest(digest)
    const seen = new Set<string>()
    const rows: ManifestRow[] = []
    for (const m of t.members) {
      for (const r of index.referrers(m.key, t.name.image, digest)) {
        if (seen.has(r.digest)) continue
        seen.add(r.digest)
        rows.push(r)
      }
    }
    const filter = query.get('artifactType')
    const selected = filter ? rows.filter((r) => r.artifactType === filter) : rows
    if (filter) reply.header('oci-filters-applied', 'artifactType')
    reply.type(OCI_INDEX)
    return reply.send({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: selected.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: r.annotations } : {}),
      })),
    })
  }

  /** GET /v2/_catalog?n=&last=: the images of every OCI repository the caller may read. */
  const catalog = async (request: FastifyRequest, reply: FastifyReply) => {
    const query = new URL(request.url, 'http://localhost').searchParams
    const page = parsePage(query)
    const names: string[] = []
    for (const repo of ctx.repositories.list()) {
      if (repo.format !== OCI_FORMAT || repo.type === 'remote' || !ctx.can(request, repo, 'read')) continue
      const images = mergeSorted(readOrder(ctx, request, repo).map((m) => index.images(m.key)))
      for (const image of images) names.push(`${repo.key}/${image}`)
    }
    names.sort(compareCodeUnits)
    const result = paginate(names, page, '/v2/_catalog')
    if (result.link) reply.header('link', result.link)
    return reply.send({ repositories: result.items })
  }

  return { tags, referrers, catalog }
}
