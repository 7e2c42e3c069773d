import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parse, stringify } from 'yaml'
import { ArtifactNotFoundError, NotFoundError, type Repository } from '../../store/index.ts'
import { cacheHeaders, etagMatches, remoteEngine, REMOTE_METADATA_DIR, type FormatContext } from '../core/index.ts'
import { chartFileName, CHARTS_DIR } from './chart-store.ts'
import { CONTENT_TYPE, MAX_YAML_ALIASES } from './constants.ts'
import { CHART_FILE, checkChartName } from './names.ts'

/*
 * Helm remote repositories: a proxy of an upstream chart repository (Helm docs, "The Chart
 * Repository Guide"); settings.upstream.url is the repository URL, where index.yaml lives.
 *
 * - index.yaml is mutable (TTL, revalidation, stale-if-error), kept raw at .remote/index.yaml.
 *   It is rewritten when served: every chart version's `urls` become one URL on this node,
 *   {repo}/charts/{name}-{version}.tgz, so helm downloads through the node whatever host (or
 *   relative path) the upstream named.
 * - charts (.tgz) and provenance files (.tgz.prov) are immutable, stored at charts/{file} like
 *   uploaded charts (without the helmChart properties, so they never show up as uploads). The
 *   upstream URL of a file comes from the cached index; a chart is verified against its
 *   `digest` (sha256).
 */

const INDEX_PATH = `${REMOTE_METADATA_DIR}/index.yaml`
/** Parsed and rendered indexes kept in memory, by blob digest (an index of a large repository is MBs of YAML). */
const MEMO_ENTRIES = 8

interface UpstreamEntry {
  name?: unknown
  version?: unknown
  urls?: unknown
  digest?: unknown
  [key: string]: unknown
}

interface UpstreamIndex {
  apiVersion?: unknown
  entries: Record<string, UpstreamEntry[]>
  [key: string]: unknown
}

/** Parses an upstream index.yaml; throws when it is not one. */
export function parseUpstreamIndex(text: string): UpstreamIndex {
  const doc = parse(text, { maxAliasCount: MAX_YAML_ALIASES }) as unknown
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('index.yaml is not a mapping')
  const entries = (doc as { entries?: unknown }).entries ?? {}
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw new Error('index.yaml has no entries mapping')
  for (const [name, versions] of Object.entries(entries)) {
    if (!Array.isArray(versions)) throw new Error(`entries.${name} is not a list`)
  }
  return { ...(doc as Record<string, unknown>), entries: entries as Record<string, UpstreamEntry[]> }
}

/** The file name this node serves a chart version under, or undefined for an entry without name and version. */
function fileOf(chart: string, entry: UpstreamEntry): string | undefined {
  const name = typeof entry.name === 'string' ? entry.name : chart
  if (typeof entry.version !== 'string' || entry.version === '') return undefined
  if (checkChartName(name, 'existing') !== undefined) return undefined
  const file = chartFileName(name, entry.version)
  return CHART_FILE.test(file) && !file.endsWith('.prov') ? file : undefined
}

/** A copy of the index whose chart URLs are `{chartsBase}{file}`; entries this node cannot serve are left out. */
export function rewriteIndex(doc: UpstreamIndex, chartsBase: string): UpstreamIndex {
  const entries: Record<string, UpstreamEntry[]> = {}
  for (const [chart, versions] of Object.entries(doc.entries)) {
    const kept: UpstreamEntry[] = []
    for (const entry of versions) {
      if (typeof entry !== 'object' || entry === null) continue
      const file = fileOf(chart, entry)
      if (file) kept.push({ ...entry, urls: [chartsBase + encodeURIComponent(file)] })
    }
    if (kept.length > 0) entries[chart] = kept
  }
  return { ...doc, entries }
}

/** The upstream URL and digest of `file` (a .tgz) according to the index. */
export function findChartUrl(doc: UpstreamIndex, file: string, upstreamUrl: string): { url: string; digest: string | undefined } | undefined {
  for (const [chart, versions] of Object.entries(doc.entries)) {
    for (const entry of versions) {
      if (typeof entry !== 'object' || entry === null || fileOf(chart, entry) !== file) continue
      const first = Array.isArray(entry.urls) ? entry.urls.find((u): u is string => typeof u === 'string' && u !== '') : undefined
      if (!first) return undefined
      // Relative chart URLs are relative to the repository URL (helm resolves them so).
      const url = new URL(first, `${upstreamUrl.replace(/\/+$/, '')}/`).toString()
      const digest = typeof entry.digest === 'string' && /^[a-f0-9]{64}$/i.test(entry.digest) ? entry.digest.toLowerCase() : undefined
      return { url, digest }
    }
  }
  return undefined
}

class Memo<T> {
  private readonly map = new Map<string, T>()
  get(key: string, make: () => T): T {
    let v = this.map.get(key)
    if (v === undefined) {
      v = make()
      this.map.set(key, v)
      while (this.map.size > MEMO_ENTRIES) this.map.delete(this.map.keys().next().value as string)
    }
    return v
  }
}
const parsedIndexes = new Memo<UpstreamIndex>()
const renderedIndexes = new Memo<string>()

async function fetchIndex(ctx: FormatContext, repo: Repository) {
  const result = await remoteEngine(ctx).fetchMutable(repo, {
    path: INDEX_PATH,
    url: remoteEngine(ctx).upstreamUrl(repo, 'index.yaml'),
    accept: 'application/x-yaml, application/yaml, text/yaml, */*',
    validate: (body) => void parseUpstreamIndex(body.toString('utf8')),
  })
  const body = await result.body()
  const doc = parsedIndexes.get(result.blob.sha256, () => parseUpstreamIndex(body.toString('utf8')))
  return { result, doc }
}

/** GET/HEAD index.yaml of a remote repository: the upstream's, with chart URLs through `chartsBase`. */
export async function serveRemoteIndex(ctx: FormatContext, request: FastifyRequest, reply: FastifyReply, repo: Repository, chartsBase: string) {
  const { result, doc } = await fetchIndex(ctx, repo)
  const text = renderedIndexes.get(`${result.blob.sha256}\0${chartsBase}`, () =>
    stringify(rewriteIndex(doc, chartsBase), { lineWidth: 0, defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' }),
  )
  const etag = `"${createHash('sha256').update(`${result.blob.sha256}\0${chartsBase}`).digest('hex')}"`
  cacheHeaders(reply, result.cache)
  reply.header('etag', etag).header('cache-control', 'no-cache')
  reply.header('last-modified', new Date(Math.floor(result.artifact.updatedAt / 1000) * 1000).toUTCString())
  if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()
  return reply.type(CONTENT_TYPE.index).send(text)
}

/** GET/HEAD charts/{file} (a .tgz or .tgz.prov) of a remote repository. */
export async function serveRemoteChartFile(ctx: FormatContext, request: FastifyRequest, reply: FastifyReply, repo: Repository, file: string) {
  const engine = remoteEngine(ctx)
  const path = `${CHARTS_DIR}/${file}`
  const prov = file.endsWith('.prov')
  const contentType = prov ? CONTENT_TYPE.prov : CONTENT_TYPE.chart
  const stored = ctx.artifacts.get(repo.key, path)
  if (stored && typeof stored.properties.upstreamUrl === 'string') {
    return engine.serveImmutable(request, reply, repo, { path, url: stored.properties.upstreamUrl, contentType })
  }
  const chart = prov ? file.slice(0, -'.prov'.length) : file
  let found: ReturnType<typeof findChartUrl>
  try {
    const { doc } = await fetchIndex(ctx, repo)
    found = findChartUrl(doc, chart, engine.upstream(repo).url)
  } catch (err) {
    if (err instanceof NotFoundError) found = undefined
    else throw err
  }
  if (!found) throw new ArtifactNotFoundError(`chart file '${file}' is not in the index upstream of repository '${repo.key}'`)
  return engine.serveImmutable(request, reply, repo, {
    path,
    url: prov ? `${found.url}.prov` : found.url,
    contentType,
    ...(!prov && found.digest ? { expected: { sha256: found.digest } } : {}),
  })
}
