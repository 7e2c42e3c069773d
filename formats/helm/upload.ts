import busboy from 'busboy'
import type { FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { contentLength } from '../core/index.ts'
import { AkError, bodyWatchdog, ImmutableArtifactError, InvalidInputError, type BlobDigests, type Repository } from '../../store/index.ts'
import { ChartArchiveError, readChartArchive } from './chart-archive.ts'
import { ChartMetadataError, type ChartMetadata } from './chart-metadata.ts'
import { checkChartName, isChartVersion } from './names.ts'
import { chartPath, provPath, type ChartProperties } from './chart-store.ts'
import { CONTENT_TYPE, HELM_FORMAT, MAX_PROV_BYTES } from './constants.ts'
import { looksLikeProvenance, provenanceChart, ProvenanceError } from './provenance.ts'

/** The files of one upload request, already in the blob store (not yet artifacts). */
interface UploadedFiles {
  chart?: BlobDigests
  prov?: BlobDigests
}

function isMultipart(request: FastifyRequest): boolean {
  return /^multipart\/form-data/i.test(request.headers['content-type'] ?? '')
}

/**
 * Streams a multipart body's `chart` and `prov` file fields into the blob store (each bounded),
 * ignoring other fields, as ChartMuseum's `curl -F chart=@… -F prov=@…` sends them.
 */
function receiveMultipart(ctx: FormatContext, request: FastifyRequest, chartLimit: number): Promise<UploadedFiles> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy
    try {
      bb = busboy({ headers: request.headers, limits: { files: 4, fields: 20, parts: 24, fieldSize: 64 * 1024 } })
    } catch (err) {
      reject(new InvalidInputError(`malformed multipart body: ${(err as Error).message}`))
      return
    }
    const out: UploadedFiles = {}
    const pending: Promise<void>[] = []
    const seen = new Set<string>()
    let failed = false
    const watchdog = bodyWatchdog(ctx.clientBody, { source: request.raw })
    const fail = (err: unknown) => {
      if (failed) return
      failed = true
      watchdog.stop()
      request.raw.unpipe(bb)
      reject(err instanceof AkError ? err : new InvalidInputError(`malformed multipart body: ${(err as Error).message}`))
    }
    bb.on('file', (field, stream) => {
      if ((field !== 'chart' && field !== 'prov') || failed) {
        stream.resume()
        return
      }
      if (seen.has(field)) {
        stream.resume()
        fail(new InvalidInputError(`multipart body has more than one '${field}' file`))
        return
      }
      seen.add(field)
      const maxBytes = field === 'chart' ? chartLimit : MAX_PROV_BYTES
      pending.push(
        ctx.blobs.ingest(stream, { maxBytes, ...ctx.clientBody }).then((d) => {
          out[field] = d
        }, fail),
      )
    })
    bb.on('error', fail)
    bb.on('close', () => {
      watchdog.stop()
      void Promise.all(pending).then(() => {
        if (!failed) resolve(out)
      })
    })
    request.raw.on('error', fail)
    request.raw.pipe(bb)
    // Piped, so flowing: this listener sees every chunk without consuming any.
    request.raw.on('data', (chunk: Buffer) => watchdog.touch(chunk.length))
    watchdog.signal.addEventListener(
      'abort',
      () => {
        const reason = watchdog.signal.reason as Error
        fail(reason)
        bb.destroy(reason) // the file parts' streams fail too, so their temp files go now
      },
      { once: true },
    )
  })
}

/** The request's files: a multipart body, or the raw body as `field` (ChartMuseum's --data-binary). */
async function receive(ctx: FormatContext, request: FastifyRequest, target: Repository, field: 'chart' | 'prov'): Promise<UploadedFiles> {
  const chartLimit = Math.min(ctx.maxUploadBytes, target.settings.maxUploadBytes ?? Infinity)
  const limit = field === 'chart' ? chartLimit : MAX_PROV_BYTES
  try {
    if (isMultipart(request)) {
      contentLength(request, chartLimit + MAX_PROV_BYTES)
      return await receiveMultipart(ctx, request, chartLimit)
    }
    const expectedSize = contentLength(request, limit)
    const blob = await ctx.blobs.ingest(request.raw, { maxBytes: limit, expectedSize, ...ctx.clientBody })
    return { [field]: blob }
  } catch (err) {
    ctx.uploadFailed(HELM_FORMAT, (err as { code?: string }).code ?? 'error')
    throw err
  }
}

async function readSmallBlob(ctx: FormatContext, sha256: string): Promise<string> {
  const parts: Buffer[] = []
  for await (const chunk of await ctx.blobs.open(sha256)) parts.push(chunk as Buffer)
  return Buffer.concat(parts).toString('utf8')
}

/** The chart's validated Chart.yaml, read from the stored archive (bounded). */
async function chartOf(ctx: FormatContext, blob: BlobDigests): Promise<ChartMetadata> {
  try {
    return await readChartArchive(await ctx.blobs.open(blob.sha256))
  } catch (err) {
    if (err instanceof ChartArchiveError || err instanceof ChartMetadataError) {
      ctx.uploadFailed(HELM_FORMAT, 'invalid_chart')
      throw new InvalidInputError(err.message)
    }
    throw err
  }
}

/** The provenance's text, checked to be one (and, when `chart` is given, to be for that chart). */
async function provenanceOf(ctx: FormatContext, blob: BlobDigests, chart?: ChartMetadata): Promise<{ name: string; version: string }> {
  const text = await readSmallBlob(ctx, blob.sha256)
  try {
    if (chart) {
      if (!looksLikeProvenance(text)) throw new ProvenanceError('not a provenance file (expected a PGP clear-signed message)')
      return { name: chart.name, version: chart.version }
    }
    return provenanceChart(text)
  } catch (err) {
    if (err instanceof ProvenanceError) throw new InvalidInputError(err.message)
    throw err
  }
}

/** Refuses to replace a stored file with other bytes (ChartMuseum: 409 "file already exists"). */
function checkImmutable(ctx: FormatContext, repo: Repository, path: string, blob: BlobDigests): boolean {
  const existing = ctx.artifacts.get(repo.key, path)
  if (existing && existing.sha256 !== blob.sha256) {
    ctx.uploadFailed(HELM_FORMAT, 'immutable')
    throw new ImmutableArtifactError(`${path.slice(path.lastIndexOf('/') + 1)} already exists with different content; chart versions are immutable`)
  }
  return existing !== undefined
}

/**
 * POST /api/charts: a chart (raw .tgz body, or multipart `chart` plus optional `prov`). The
 * archive is streamed into the blob store, its Chart.yaml read back from there (bounded), and
 * only a valid chart becomes artifacts, chart and provenance in one transaction. Returns whether
 * anything new was stored (false: the same bytes were there already).
 */
export async function uploadChart(ctx: FormatContext, request: FastifyRequest, target: Repository): Promise<boolean> {
  const files = await receive(ctx, request, target, 'chart')
  if (!files.chart) {
    if (files.prov) return storeProvenance(ctx, request, target, files.prov)
    throw new InvalidInputError("no chart in the request (send the .tgz as the body, or as multipart field 'chart')")
  }
  const chart = await chartOf(ctx, files.chart)
  const prov = files.prov ? await provenanceOf(ctx, files.prov, chart) : undefined
  const path = chartPath(chart.name, chart.version)
  const existed = checkImmutable(ctx, target, path, files.chart)
  const provExisted = prov && files.prov ? checkImmutable(ctx, target, provPath(chart.name, chart.version), files.prov) : true
  if (existed && provExisted) return false
  const createdBy = ctx.userName(request)
  const properties: ChartProperties = { helmChart: chart, created: new Date().toISOString() }
  ctx.artifacts.transaction(() => {
    if (!existed) {
      ctx.artifacts.put({
        repo: target.key,
        path,
        blob: files.chart!,
        contentType: CONTENT_TYPE.chart,
        properties: properties as unknown as Record<string, unknown>,
        createdBy,
        overwrite: false,
      })
    }
    if (files.prov && !provExisted) {
      ctx.artifacts.put({
        repo: target.key,
        path: provPath(chart.name, chart.version),
        blob: files.prov,
        contentType: CONTENT_TYPE.prov,
        properties: { helmChart: { name: chart.name, version: chart.version } },
        createdBy,
        overwrite: false,
      })
    }
  })
  return true
}

/** POST /api/prov: a provenance file on its own, filed beside the chart it names. */
export async function uploadProvenance(ctx: FormatContext, request: FastifyRequest, target: Repository): Promise<boolean> {
  const files = await receive(ctx, request, target, 'prov')
  if (!files.prov) throw new InvalidInputError("no provenance file in the request (send it as the body, or as multipart field 'prov')")
  return storeProvenance(ctx, request, target, files.prov)
}

async function storeProvenance(ctx: FormatContext, request: FastifyRequest, target: Repository, blob: BlobDigests): Promise<boolean> {
  const { name, version } = await provenanceOf(ctx, blob)
  const nameErr = checkChartName(name)
  if (nameErr) throw new InvalidInputError(`provenance file: ${nameErr}`)
  if (!isChartVersion(version)) throw new InvalidInputError(`provenance file: version "${version}" is not a valid SemVer 2 version`)
  const path = provPath(name, version)
  if (checkImmutable(ctx, target, path, blob)) return false
  ctx.artifacts.put({
    repo: target.key,
    path,
    blob,
    contentType: CONTENT_TYPE.prov,
    properties: { helmChart: { name, version } },
    createdBy: ctx.userName(request),
    overwrite: false,
  })
  return true
}
