import { Readable } from 'node:stream'
import type { FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { contentLength, expectedDigests } from '../core/index.ts'
import { ImmutableArtifactError, InvalidInputError, type Repository } from '../../store/index.ts'
import { CONTENT_TYPE, GO_FORMAT, MAX_GO_MOD_BYTES, MAX_ZIP_BYTES } from './constants.ts'
import { declaredModulePath, synthesizedGoMod } from './go-mod.ts'
import { blobZipReader, checkModuleZip, goModHash1 } from './module-zip.ts'
import { modPath, zipPath, type GoZipProperties } from './module-store.ts'
import { checkModuleVersion } from './version.ts'

/** What an upload answers (JSON): the version, its time and its go.sum lines. */
export interface UploadResult {
  created: boolean
  body: {
    module: string
    version: string
    time: string
    repo: string
    size: number
    sha256: string
    /** The two go.sum lines for this version. */
    sum: string[]
  }
}

function sumLines(module: string, version: string, p: GoZipProperties): string[] {
  return [`${module} ${version} ${p.h1}`, `${module} ${version}/go.mod ${p.goModH1}`]
}

/**
 * Stores one module version from its zip, streamed from the request body: the zip goes into the
 * blob store first (bounded by the upload limits and the 500 MiB module limit), is checked from
 * there by ranged reads, and only a valid zip becomes artifacts (.zip and .mod, one
 * transaction). A rejected zip leaves no artifact; its unreferenced bytes are garbage-collected.
 * Same bytes again succeed (idempotent); different bytes for a stored version are refused.
 */
export async function uploadModuleVersion(
  ctx: FormatContext,
  request: FastifyRequest,
  target: Repository,
  module: string,
  version: string,
): Promise<UploadResult> {
  const versionErr = checkModuleVersion(module, version)
  if (versionErr) throw new InvalidInputError(`invalid version for module ${module}: ${versionErr}`)
  const limit = Math.min(ctx.maxUploadBytes, target.settings.maxUploadBytes ?? Infinity, MAX_ZIP_BYTES)
  const expectedSize = contentLength(request, limit)
  const expected = expectedDigests(request)
  let blob
  try {
    blob = await ctx.blobs.ingest(request.raw, { maxBytes: limit, expectedSize, expected, ...ctx.clientBody })
  } catch (err) {
    ctx.uploadFailed(GO_FORMAT, (err as { code?: string }).code ?? 'error')
    throw err
  }
  const path = zipPath(module, version)
  const existing = ctx.artifacts.get(target.key, path)
  if (existing) {
    if (existing.sha256 !== blob.sha256) {
      ctx.uploadFailed(GO_FORMAT, 'immutable')
      throw new ImmutableArtifactError(
        `${module}@${version} already exists in repository '${target.key}' with different content; module versions are immutable`,
      )
    }
    const p = existing.properties as unknown as GoZipProperties
    return {
      created: false,
      body: { module, version, time: p.time, repo: target.key, size: blob.size, sha256: blob.sha256, sum: sumLines(module, version, p) },
    }
  }

  let goMod: Buffer
  let h1: string
  try {
    const summary = await checkModuleZip(blobZipReader(ctx.blobs, blob.sha256), blob.size, module, version)
    h1 = summary.h1
    if (summary.goMod) {
      const declared = declaredModulePath(summary.goMod.toString('utf8'))
      if (declared === undefined) throw new InvalidInputError(`go.mod of ${module}@${version} has no valid module directive`)
      if (declared !== module) {
        throw new InvalidInputError(`go.mod of ${module}@${version} declares its path as "${declared}"; it must be "${module}"`)
      }
      if (version.endsWith('+incompatible')) {
        throw new InvalidInputError(`${module}@${version}: +incompatible versions are for modules without a go.mod, and this zip has one`)
      }
      goMod = summary.goMod
    } else {
      goMod = Buffer.from(synthesizedGoMod(module))
    }
  } catch (err) {
    ctx.uploadFailed(GO_FORMAT, (err as { code?: string }).code ?? 'error')
    throw err
  }
  const modBlob = await ctx.blobs.ingest(Readable.from([goMod]), { maxBytes: MAX_GO_MOD_BYTES })
  const properties: GoZipProperties = {
    goModule: module,
    goVersion: version,
    time: new Date().toISOString(),
    h1,
    goModH1: goModHash1(goMod),
  }
  const createdBy = ctx.userName(request)
  ctx.artifacts.transaction(() => {
    ctx.artifacts.put({
      repo: target.key,
      path,
      blob,
      contentType: CONTENT_TYPE.zip,
      properties: properties as unknown as Record<string, unknown>,
      createdBy,
      overwrite: false,
    })
    ctx.artifacts.put({
      repo: target.key,
      path: modPath(module, version),
      blob: modBlob,
      contentType: CONTENT_TYPE.mod,
      properties: { goModule: module, goVersion: version },
      createdBy,
      overwrite: false,
    })
  })
  return {
    created: true,
    body: {
      module,
      version,
      time: properties.time,
      repo: target.key,
      size: blob.size,
      sha256: blob.sha256,
      sum: sumLines(module, version, properties),
    },
  }
}
