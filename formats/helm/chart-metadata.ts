import { parse } from 'yaml'
import { MAX_YAML_ALIASES } from './constants.ts'
import { checkChartName, isChartVersion } from './names.ts'

/**
 * Chart.yaml as a chart repository reports it (Helm's chart.Metadata, "The Chart.yaml File" in
 * the Helm docs). Only known fields of the right types are kept: the index is generated from
 * these, so whatever else an upload carries never reaches clients.
 */
export interface ChartMaintainer {
  name: string
  email?: string
  url?: string
}

export interface ChartDependency {
  name: string
  version?: string
  repository?: string
  condition?: string
  tags?: string[]
  enabled?: boolean
  alias?: string
}

export interface ChartMetadata {
  apiVersion: 'v1' | 'v2'
  name: string
  version: string
  appVersion?: string
  description?: string
  type?: 'application' | 'library'
  home?: string
  icon?: string
  sources?: string[]
  keywords?: string[]
  maintainers?: ChartMaintainer[]
  kubeVersion?: string
  deprecated?: boolean
  condition?: string
  tags?: string
  annotations?: Record<string, string>
  dependencies?: ChartDependency[]
}

/** Thrown for a Chart.yaml a repository must refuse; the message says why. */
export class ChartMetadataError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function str(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key]
  if (v === undefined || v === null) return undefined
  // YAML reads `appVersion: 1.16` as a number; Helm users mean the string.
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (typeof v !== 'string') throw new ChartMetadataError(`Chart.yaml: ${key} must be a string`)
  return v
}

function strList(obj: Record<string, unknown>, key: string): string[] | undefined {
  const v = obj[key]
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ChartMetadataError(`Chart.yaml: ${key} must be a list of strings`)
  return v as string[]
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

/** Validates a parsed Chart.yaml and keeps its known fields. */
export function chartMetadata(doc: unknown): ChartMetadata {
  if (!isObject(doc)) throw new ChartMetadataError('Chart.yaml is not a YAML mapping')
  const apiVersion = str(doc, 'apiVersion')
  if (apiVersion === undefined) throw new ChartMetadataError('Chart.yaml: apiVersion is required')
  if (apiVersion !== 'v1' && apiVersion !== 'v2') throw new ChartMetadataError(`Chart.yaml: apiVersion "${apiVersion}" is not supported (v1 or v2)`)
  const name = str(doc, 'name')
  if (!name) throw new ChartMetadataError('Chart.yaml: name is required')
  const nameErr = checkChartName(name)
  if (nameErr) throw new ChartMetadataError(`Chart.yaml: ${nameErr}`)
  const version = typeof doc.version === 'string' ? doc.version : undefined
  if (!version) throw new ChartMetadataError('Chart.yaml: version is required (a string)')
  if (!isChartVersion(version)) throw new ChartMetadataError(`Chart.yaml: version "${version}" is not a valid SemVer 2 version`)
  const type = str(doc, 'type')
  if (type !== undefined && type !== '' && type !== 'application' && type !== 'library') {
    throw new ChartMetadataError(`Chart.yaml: type "${type}" is invalid (application or library)`)
  }
  let maintainers: ChartMaintainer[] | undefined
  if (doc.maintainers !== undefined && doc.maintainers !== null) {
    if (!Array.isArray(doc.maintainers)) throw new ChartMetadataError('Chart.yaml: maintainers must be a list')
    maintainers = doc.maintainers.map((m: unknown) => {
      if (!isObject(m)) throw new ChartMetadataError('Chart.yaml: each maintainer must be a mapping')
      const mName = str(m, 'name')
      if (!mName) throw new ChartMetadataError('Chart.yaml: each maintainer needs a name')
      return defined({ name: mName, email: str(m, 'email'), url: str(m, 'url') })
    })
  }
  let dependencies: ChartDependency[] | undefined
  if (doc.dependencies !== undefined && doc.dependencies !== null) {
    if (!Array.isArray(doc.dependencies)) throw new ChartMetadataError('Chart.yaml: dependencies must be a list')
    dependencies = doc.dependencies.map((d: unknown) => {
      if (!isObject(d)) throw new ChartMetadataError('Chart.yaml: each dependency must be a mapping')
      const dName = str(d, 'name')
      if (!dName) throw new ChartMetadataError('Chart.yaml: each dependency needs a name')
      return defined({
        name: dName,
        version: str(d, 'version'),
        repository: str(d, 'repository'),
        condition: str(d, 'condition'),
        tags: strList(d, 'tags'),
        enabled: typeof d.enabled === 'boolean' ? d.enabled : undefined,
        alias: str(d, 'alias'),
      })
    })
  }
  let annotations: Record<string, string> | undefined
  if (doc.annotations !== undefined && doc.annotations !== null) {
    if (!isObject(doc.annotations)) throw new ChartMetadataError('Chart.yaml: annotations must be a mapping')
    annotations = {}
    for (const key of Object.keys(doc.annotations)) annotations[key] = str(doc.annotations, key) ?? ''
  }
  return defined({
    apiVersion,
    name,
    version,
    appVersion: str(doc, 'appVersion'),
    description: str(doc, 'description'),
    type: type === '' ? undefined : (type as ChartMetadata['type']),
    home: str(doc, 'home'),
    icon: str(doc, 'icon'),
    sources: strList(doc, 'sources'),
    keywords: strList(doc, 'keywords'),
    maintainers,
    kubeVersion: str(doc, 'kubeVersion'),
    deprecated: typeof doc.deprecated === 'boolean' ? doc.deprecated : undefined,
    condition: str(doc, 'condition'),
    tags: str(doc, 'tags'),
    annotations,
    dependencies,
  })
}

/** Parses Chart.yaml text (aliases bounded) and validates it. */
export function parseChartYaml(text: string): ChartMetadata {
  let doc: unknown
  try {
    doc = parse(text, { maxAliasCount: MAX_YAML_ALIASES, uniqueKeys: true })
  } catch (err) {
    throw new ChartMetadataError(`Chart.yaml is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  return chartMetadata(doc)
}
