import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { deployTarget, etagMatches, findRepository, readOrder, sendBlob, streamRawBodies } from '../core/index.ts'
import {
  ArtifactNotFoundError,
  InvalidPathError,
  validateRepositoryKey,
  type Repository,
} from '../../store/index.ts'
import { CHART_FILE, checkChartName, isChartVersion } from './names.ts'
import { chartFileName, chartPath, findChart, findChartFile, listCharts, provPath } from './chart-store.ts'
import { CONTENT_TYPE, HELM_FORMAT } from './constants.ts'
import { helmErrorHandler } from './errors.ts'
import { buildIndex, renderIndex, type ChartVersionEntry } from './index-yaml.ts'
import { uploadChart, uploadProvenance } from './upload.ts'
import { serveRemoteChartFile, serveRemoteIndex } from './remote.ts'

export { HELM_FORMAT, MAX_DECOMPRESSED_CHART_BYTES, MAX_CHART_YAML_BYTES, MAX_CHART_ENTRIES, MAX_PROV_BYTES } from './constants.ts'
export { HELM_STATUS, helmWireError } from './errors.ts'
export { chartMetadata, parseChartYaml, ChartMetadataError, type ChartMetadata } from './chart-metadata.ts'
export { checkChartName, isChartVersion, type ChartNameUse } from './names.ts'
export { helmPathProblem, helmReplicationHooks } from './replication.ts'
export { readChartArchive, ChartArchiveError, type ChartArchiveLimits } from './chart-archive.ts'
export { provenanceChart, looksLikeProvenance, ProvenanceError } from './provenance.ts'
export { buildIndex, renderIndex, type IndexFile, type ChartVersionEntry } from './index-yaml.ts'
export { parseUpstreamIndex, rewriteIndex, findChartUrl } from './remote.ts'

/**
 * The Helm format: a chart repository at /helm/{repo}/ (Helm docs, "The Chart Repository
 * Guide") with ChartMuseum's API for publishing:
 *   GET  index.yaml                       generated from the stored charts
 *   GET  charts/{name}-{version}.tgz      a chart; `.tgz.prov` its provenance
 *   POST api/charts                       upload (raw .tgz, or multipart `chart` + `prov`)
 *   POST api/prov                         upload a provenance file on its own
 *   DELETE api/charts/{name}/{version}    remove a chart version and its provenance
 *   GET  api/charts[/{name}[/{version}]]  the index as JSON (ChartMuseum)
 * Errors are ChartMuseum's `{"error": "…"}`. Charts as OCI artifacts live under /v2 (oci format).
 */
export function helmFormat(ctx: FormatContext) {
  return async function helmPlugin(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)
    app.setErrorHandler(helmErrorHandler)

    /** The repository the URL names, which the caller may read (findRepository). */
    const repoOf = (request: FastifyRequest): Repository => {
      const raw = (request.params as { repo?: string }).repo ?? ''
      let key: string
      try {
        key = validateRepositoryKey(raw)
      } catch {
        throw new InvalidPathError(`invalid repository key '${raw}'`)
      }
      return findRepository(ctx, request, key, HELM_FORMAT)
    }

    /** The index of what `repo` serves (merged over its members), with URLs through `repo`. */
    const indexOf = (request: FastifyRequest, repo: Repository, charts = listCharts(ctx.artifacts, readOrder(ctx, request, repo))) => {
      const base = `${ctx.baseUrl(request)}${app.prefix}/${encodeURIComponent(repo.key)}/charts/`
      return buildIndex(charts, (file) => base + encodeURIComponent(file))
    }

    const readable = (request: FastifyRequest) => {
      const repo = repoOf(request)
      ctx.authorize(request, repo, 'read')
      return repo
    }

    app.route({
      method: ['GET', 'HEAD'],
      url: '/:repo/index.yaml',
      handler: async (request, reply) => {
        const repo = readable(request)
        if (repo.type === 'remote') return serveRemoteIndex(ctx, request, reply, repo, `${ctx.baseUrl(request)}${app.prefix}/${encodeURIComponent(repo.key)}/charts/`)
        const text = renderIndex(indexOf(request, repo))
        // The ETag names the content minus the `generated` line, so an unchanged index revalidates.
        const etag = `"${createHash('sha256').update(text.replace(/^generated: .*$/m, '')).digest('hex')}"`
        reply.header('etag', etag).header('cache-control', 'no-cache')
        if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()
        return reply.type(CONTENT_TYPE.index).send(text)
      },
    })

    app.route({
      method: ['GET', 'HEAD'],
      url: '/:repo/charts/:file',
      handler: async (request, reply) => {
        const repo = readable(request)
        const { file } = request.params as { file: string }
        if (!CHART_FILE.test(file)) throw new ArtifactNotFoundError(`'${file}' is not a chart file`)
        if (repo.type === 'remote') return serveRemoteChartFile(ctx, request, reply, repo, file)
        const artifact = findChartFile(ctx.artifacts, readOrder(ctx, request, repo), file)
        const blob = artifact ? ctx.blobIndex.get(artifact.sha256) : undefined
        if (!artifact || !blob) throw new ArtifactNotFoundError(`chart file '${file}' not found in repository '${repo.key}'`)
        return sendBlob(request, reply, ctx.blobs, {
          blob,
          contentType: file.endsWith('.prov') ? CONTENT_TYPE.prov : CONTENT_TYPE.chart,
          lastModified: artifact.createdAt,
        })
      },
    })

    const writable = (request: FastifyRequest) => {
      const target = deployTarget(ctx, repoOf(request))
      ctx.authorize(request, target, 'write')
      return target
    }

    app.post('/:repo/api/charts', async (request, reply) => {
      const created = await uploadChart(ctx, request, writable(request))
      return reply.code(created ? 201 : 200).send({ saved: true })
    })

    app.post('/:repo/api/prov', async (request, reply) => {
      const created = await uploadProvenance(ctx, request, writable(request))
      return reply.code(created ? 201 : 200).send({ saved: true })
    })

    app.delete('/:repo/api/charts/:name/:version', async (request, reply) => {
      const target = deployTarget(ctx, repoOf(request))
      ctx.authorize(request, target, 'delete')
      const { name, version } = request.params as { name: string; version: string }
      if (checkChartName(name, 'existing') !== undefined || !isChartVersion(version)) {
        throw new ArtifactNotFoundError(`chart ${name}-${version} not found`)
      }
      const by = ctx.userName(request)
      const removed = ctx.artifacts.transaction(() => {
        const chart = ctx.artifacts.delete(target.key, chartPath(name, version), by)
        const prov = ctx.artifacts.delete(target.key, provPath(name, version), by)
        return chart || prov
      })
      if (!removed) throw new ArtifactNotFoundError(`chart ${chartFileName(name, version)} not found in repository '${target.key}'`)
      return reply.send({ deleted: true })
    })

    // ChartMuseum's read API: the index as JSON.
    app.get('/:repo/api/charts', async (request) => indexOf(request, readable(request)).entries)
    app.get('/:repo/api/charts/:name', async (request) => {
      const { name } = request.params as { name: string }
      const versions: ChartVersionEntry[] | undefined = indexOf(request, readable(request)).entries[name]
      if (!versions) throw new ArtifactNotFoundError(`chart '${name}' not found`)
      return versions
    })
    app.route({
      method: ['GET', 'HEAD'],
      url: '/:repo/api/charts/:name/:version',
      handler: async (request, reply) => {
        const repo = readable(request)
        const { name, version } = request.params as { name: string; version: string }
        const valid = isChartVersion(version) && checkChartName(name, 'existing') === undefined
        const found = valid ? findChart(ctx.artifacts, readOrder(ctx, request, repo), name, version) : undefined
        if (!found) throw new ArtifactNotFoundError(`chart ${name}-${version} not found`)
        return reply.send(indexOf(request, repo, [found]).entries[name]![0])
      },
    })
  }
}
