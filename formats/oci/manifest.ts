import { FOREIGN_LAYER_TYPES, IMAGE_MANIFEST_TYPES, INDEX_MANIFEST_TYPES } from './constants.ts'
import { ManifestInvalidError } from './errors.ts'
import { SHA256_DIGEST } from './names.ts'

/** A content descriptor (image-spec descriptor.md). */
export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  urls?: string[]
}

/** What the registry needs to know of a pushed manifest. */
export interface ParsedManifest {
  mediaType: string
  kind: 'image' | 'index'
  /** Blobs that must exist in the repository: config and layers (foreign layers excepted). */
  blobs: Descriptor[]
  /** Manifests that must exist in the image: the entries of an index. */
  manifests: Descriptor[]
  subject: Descriptor | undefined
  /** artifactType, else the config's media type for image manifests (what referrers report). */
  artifactType: string | undefined
  annotations: Record<string, string> | undefined
}

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
/** RFC 6838 media type, as image-spec descriptor.md requires. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/

function invalid(message: string): never {
  throw new ManifestInvalidError(message)
}

function annotations(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined) return undefined
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) invalid(`${where}.annotations must map strings to strings`)
  return v as Record<string, string>
}

export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) invalid(`${where} must be a descriptor object`)
  const { mediaType, digest, size, artifactType, urls } = v
  if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) invalid(`${where}.mediaType is missing or not a media type`)
  if (typeof digest !== 'string' || !SHA256_DIGEST.test(digest)) invalid(`${where}.digest must be a sha256 digest`)
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) invalid(`${where}.size must be a non-negative integer`)
  if (artifactType !== undefined && (typeof artifactType !== 'string' || !MEDIA_TYPE.test(artifactType))) {
    invalid(`${where}.artifactType is not a media type`)
  }
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) invalid(`${where}.urls must be strings`)
  return {
    mediaType,
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType: artifactType as string } : {}),
    ...(v.annotations !== undefined ? { annotations: annotations(v.annotations, where) } : {}),
    ...(urls !== undefined ? { urls: urls as string[] } : {}),
  }
}

/**
 * Parses and validates a manifest body. `contentType` is the request's Content-Type; when the
 * manifest carries its own mediaType the two must agree (distribution-spec § Pushing Manifests).
 * Supports OCI image manifests and indexes and Docker schema 2 manifests and manifest lists.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown
  try {
    doc = JSON.parse(body.toString('utf8'))
  } catch (err) {
    invalid(`manifest is not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(doc)) invalid('manifest must be a JSON object')
  if (doc.schemaVersion !== 2) invalid(`schemaVersion must be 2 (got ${JSON.stringify(doc.schemaVersion)}); schema 1 is not supported`)
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined
  if (doc.mediaType !== undefined && declared === undefined) invalid('mediaType must be a string')
  const header = contentType?.split(';')[0]?.trim().toLowerCase()
  const headerType = header && header !== 'application/json' && header !== 'application/octet-stream' ? header : undefined
  if (declared && headerType && declared !== headerType) {
    invalid(`Content-Type '${headerType}' does not match the manifest's mediaType '${declared}'`)
  }
  // An OCI manifest may leave mediaType out: then its shape says what it is.
  const mediaType = declared ?? headerType ?? (Array.isArray(doc.manifests) ? INDEX_MANIFEST_TYPES[0] : IMAGE_MANIFEST_TYPES[0]) as string
  const subject = doc.subject === undefined ? undefined : parseDescriptor(doc.subject, 'subject')
  const topAnnotations = annotations(doc.annotations, 'manifest')
  let artifactType: string | undefined
  if (doc.artifactType !== undefined) {
    if (typeof doc.artifactType !== 'string' || !MEDIA_TYPE.test(doc.artifactType)) invalid('artifactType is not a media type')
    artifactType = doc.artifactType
  }

  if (IMAGE_MANIFEST_TYPES.includes(mediaType)) {
    if (doc.manifests !== undefined) invalid('an image manifest has no manifests list')
    const config = parseDescriptor(doc.config, 'config')
    if (!Array.isArray(doc.layers)) invalid('layers must be an array')
    const layers = doc.layers.map((l, i) => parseDescriptor(l, `layers[${i}]`))
    const blobs = [config, ...layers.filter((l) => !(FOREIGN_LAYER_TYPES.includes(l.mediaType) && l.urls?.length))]
    return {
      mediaType,
      kind: 'image',
      blobs,
      manifests: [],
      subject,
      artifactType: artifactType ?? config.mediaType,
      annotations: topAnnotations,
    }
  }
  if (INDEX_MANIFEST_TYPES.includes(mediaType)) {
    if (doc.config !== undefined || doc.layers !== undefined) invalid('an image index has no config or layers')
    if (!Array.isArray(doc.manifests)) invalid('manifests must be an array')
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`))
    return { mediaType, kind: 'index', blobs: [], manifests, subject, artifactType, annotations: topAnnotations }
  }
  invalid(`unsupported manifest media type '${mediaType}'`)
}
