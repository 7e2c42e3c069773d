import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { contentLength, deployTarget, type FormatContext } from '../core/index.ts'
import {
  DigestMismatchError,
  ImmutableArtifactError,
  InvalidInputError,
  type BlobDigests,
  type ExpectedDigests,
  type Repository,
} from '../../store/index.ts'
import { MAX_CORE_METADATA_BYTES, MAX_FORM_OVERHEAD_BYTES, PYPI_FORMAT } from './constants.ts'
import { parseCoreMetadata } from './core-metadata.ts'
import { distPath, METADATA_SUFFIX, type DistProperties } from './layout.ts'
import {
  isValidProjectName,
  normalizeProjectName,
  normalizeVersion,
  parseDistributionFilename,
  type DistributionFilename,
} from './names.ts'
import { readSdistPkgInfo } from './sdist-metadata.ts'
import { field, receiveUploadForm, type FormFields } from './upload-form.ts'
import { readWheelMetadata } from './wheel-metadata.ts'

/** What an upload form asks for, validated: the project, the version and where the file goes. */
export interface UploadPlan {
  name: string
  project: string
  version: string
  filename: string
  dist: DistributionFilename
  path: string
}

/**
 * Validates the form of the legacy upload API (https://warehouse.pypa.io/api-reference/legacy.html):
 * `:action=file_upload`, a valid project name and PEP 440 version, and a distribution filename
 * whose project and version are the form's. Messages follow Warehouse's wording where twine users know it.
 */
export function planUpload(fields: FormFields, filename: string): UploadPlan {
  const action = field(fields, ':action')
  if (action !== 'file_upload') throw new InvalidInputError(`Unsupported ':action' '${action ?? ''}'; only 'file_upload' is served`)
  const protocol = field(fields, 'protocol_version')
  if (protocol !== undefined && protocol !== '1') throw new InvalidInputError(`Unknown protocol_version '${protocol}'`)
  const name = field(fields, 'name')
  const version = field(fields, 'version')
  if (!name) throw new InvalidInputError("'name' is a required field")
  if (!version) throw new InvalidInputError("'version' is a required field")
  if (!isValidProjectName(name)) {
    throw new InvalidInputError(
      `'${name}' is an invalid value for Name: start and end with a letter or numeral and contain only ASCII numeric and '.', '_' and '-'`,
    )
  }
  const normalizedVersion = normalizeVersion(version)
  if (normalizedVersion === undefined) throw new InvalidInputError(`'${version}' is an invalid value for Version (PEP 440)`)
  if (!filename) throw new InvalidInputError('Upload payload does not have a file name')
  let dist: DistributionFilename
  try {
    dist = parseDistributionFilename(filename, name)
  } catch (err) {
    // A well-formed sdist name of another project is a mismatch, not a malformed name.
    let other: DistributionFilename | undefined
    try {
      other = filename.endsWith('.tar.gz') ? parseDistributionFilename(filename) : undefined
    } catch {
      other = undefined
    }
    if (other) throw new InvalidInputError(`Start filename for '${name}' with '${name.replace(/[-_.]+/g, '_')}': '${filename}' belongs to another project`)
    throw err
  }
  const project = normalizeProjectName(name)
  if (normalizeProjectName(dist.project) !== project) {
    throw new InvalidInputError(`Start filename for '${name}' with '${name.replace(/[-_.]+/g, '_')}': '${filename}' belongs to '${dist.project}'`)
  }
  if (normalizeVersion(dist.version) !== normalizedVersion) {
    throw new InvalidInputError(`Version in filename '${filename}' should be '${version}'`)
  }
  const filetype = field(fields, 'filetype')
  const expectedType = dist.kind === 'wheel' ? 'bdist_wheel' : 'sdist'
  if (filetype !== undefined && filetype !== expectedType) {
    throw new InvalidInputError(`filetype '${filetype}' does not match the file '${filename}' (${expectedType})`)
  }
  return { name, project, version, filename, dist, path: distPath(project, filename) }
}

const HEX64 = /^[0-9a-f]{64}$/i
const HEX32 = /^[0-9a-f]{32}$/i

/** The digests the form announced (sha256_digest, md5_digest), validated. */
export function announcedDigests(fields: FormFields): ExpectedDigests {
  const sha256 = field(fields, 'sha256_digest')
  const md5 = field(fields, 'md5_digest')
  if (sha256 !== undefined && sha256 !== '' && !HEX64.test(sha256)) throw new InvalidInputError('sha256_digest must be 64 hex digits')
  if (md5 !== undefined && md5 !== '' && !HEX32.test(md5)) throw new InvalidInputError('md5_digest must be 32 hex digits')
  return { sha256: sha256 ? sha256.toLowerCase() : undefined, md5: md5 ? md5.toLowerCase() : undefined }
}

function checkDigests(fields: FormFields, blob: BlobDigests): void {
  const { sha256, md5 } = announcedDigests(fields)
  if (sha256 && sha256 !== blob.sha256) throw new DigestMismatchError(`sha256 ${sha256} was announced, the file is ${blob.sha256}`)
  if (md5 && md5 !== blob.md5) throw new DigestMismatchError(`md5 ${md5} was announced, the file is ${blob.md5}`)
}

/**
 * POST /pypi/{repo}/ — the legacy upload API. The file streams into the store while the form is
 * parsed; then the upload is checked (digests, names, core metadata read bounded from the archive)
 * and recorded in one transaction: the distribution, and for wheels its `.metadata` file.
 * Nothing is recorded when any check fails (the ingested bytes are left for gc).
 */
export async function handleUpload(
  ctx: FormatContext,
  repo: Repository,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const target = deployTarget(ctx, repo)
  if (target.format !== PYPI_FORMAT || target.type !== 'local') {
    throw new InvalidInputError(`cannot upload to '${target.key}': not a local PyPI repository`)
  }
  ctx.authorize(request, target, 'write')
  try {
    const limit = Math.min(ctx.maxUploadBytes, target.settings.maxUploadBytes ?? Infinity)
    contentLength(request, limit + MAX_FORM_OVERHEAD_BYTES)
    if (!/^multipart\/form-data\s*;/i.test(request.headers['content-type'] ?? '')) {
      throw new InvalidInputError('Invalid upload: the body must be multipart/form-data')
    }
    const form = await receiveUploadForm(request.raw, request.headers, {
      maxFileBytes: limit,
      // twine sends every field before the file: refuse a bad name before reading its bytes.
      beforeFile: (filename, fields) => {
        if (field(fields, 'name') !== undefined && field(fields, 'version') !== undefined) planUpload(fields, filename)
      },
      ingest: (stream, fields) =>
        ctx.blobs.ingest(stream, { maxBytes: limit, expected: announcedDigests(fields), ...ctx.clientBody }),
      clientBody: ctx.clientBody,
    })
    if (!form.file) throw new InvalidInputError('Upload payload does not have a file')
    const { blob } = form.file
    const plan = planUpload(form.fields, form.file.filename)
    checkDigests(form.fields, blob)

    const existing = ctx.artifacts.get(target.key, plan.path)
    if (existing) {
      // The same bytes again is a success, as on PyPI; other bytes under an existing name never are.
      if (existing.sha256 === blob.sha256) return reply.code(200).type('text/plain; charset=utf-8').send('OK\n')
      throw new ImmutableArtifactError(`'${plan.filename}' already exists in repository '${target.key}' with other content`)
    }

    const file = { blobs: ctx.blobs, sha256: blob.sha256, size: blob.size }
    const metadataBytes =
      plan.dist.kind === 'wheel' ? await readWheelMetadata(file, plan.dist.project) : await readSdistPkgInfo(file)
    const metadata = parseCoreMetadata(metadataBytes, `${plan.filename} ${plan.dist.kind === 'wheel' ? 'METADATA' : 'PKG-INFO'}`)
    if (normalizeProjectName(metadata.name) !== plan.project) {
      throw new InvalidInputError(`the file's metadata names project '${metadata.name}', not '${plan.name}'`)
    }
    if (normalizeVersion(metadata.version) !== normalizeVersion(plan.version)) {
      throw new InvalidInputError(`the file's metadata has version '${metadata.version}', not '${plan.version}'`)
    }
    const metadataBlob =
      plan.dist.kind === 'wheel'
        ? await ctx.blobs.ingest(Readable.from([metadataBytes]), { maxBytes: MAX_CORE_METADATA_BYTES })
        : undefined
    const requiresPython = metadata.requiresPython ?? (field(form.fields, 'requires_python') || undefined)
    const properties: DistProperties = {
      name: metadata.name,
      version: metadata.version,
      filetype: plan.dist.kind === 'wheel' ? 'bdist_wheel' : 'sdist',
      pythonVersion: field(form.fields, 'pyversion'),
      requiresPython,
      metadataVersion: metadata.metadataVersion,
      summary: metadata.summary,
      metadataSha256: metadataBlob?.sha256,
    }
    const createdBy = ctx.userName(request)
    ctx.artifacts.transaction(() => {
      if (metadataBlob) {
        ctx.artifacts.put({
          repo: target.key,
          path: `${plan.path}${METADATA_SUFFIX}`,
          blob: metadataBlob,
          contentType: 'text/plain; charset=utf-8',
          properties: { pypi: { metadataOf: plan.filename } },
          createdBy,
          // Derived from the distribution, which the put below guards: a stale copy may be replaced.
          overwrite: true,
        })
      }
      ctx.artifacts.put({
        repo: target.key,
        path: plan.path,
        blob,
        contentType: 'application/octet-stream',
        properties: { pypi: properties },
        createdBy,
        overwrite: false,
      })
    })
    return reply.code(200).type('text/plain; charset=utf-8').send('OK\n')
  } catch (err) {
    ctx.uploadFailed(PYPI_FORMAT, (err as { code?: string }).code ?? 'error')
    throw err
  }
}
