import type { FastifyReply, FastifyRequest } from 'fastify'
import { deployTarget } from '../core/index.ts'
import { InvalidInputError, MalformedJsonError, BodyTooLargeError, NotFoundError, type Repository } from '../../store/index.ts'
import { MAX_SMALL_BODY_BYTES } from './constants.ts'
import { requireExistingName, validatePackageName, validateTag } from './names.ts'
import type { NpmDeps } from './read.ts'
import { deprecationPointer, distTagPointer, ensureLatestPointer, refreshPackage, removePackagePointers, removeVersionPointers } from './replication.ts'

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Reads a small JSON body whole (login, dist-tag), refusing more than `max` bytes. */
export async function readSmallJson(request: FastifyRequest, max = MAX_SMALL_BODY_BYTES): Promise<unknown> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of request.raw) {
    size += (chunk as Buffer).length
    if (size > max) throw new BodyTooLargeError(`body exceeds ${max} bytes`)
    parts.push(chunk as Buffer)
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'))
  } catch {
    throw new MalformedJsonError('the body is not valid JSON')
  }
}

/**
 * Applies an edited packument (a PUT without attachment) to the stored package: each stored
 * version's `deprecated` follows the document (`npm deprecate`; an empty message undeprecates).
 * With `removeMissing` (the `/-rev/{rev}` form `npm unpublish pkg@version` sends) versions
 * absent from the document are removed with their tarballs, and dist-tags follow the document.
 */
export function applyUpdate(
  deps: NpmDeps,
  request: FastifyRequest,
  target: Repository,
  name: string,
  doc: Record<string, unknown>,
  removeMissing: boolean,
): { rev: string } {
  const { ctx, index } = deps
  const versions = doc.versions
  if (!isObject(versions)) throw new InvalidInputError('the document has no versions')
  const stored = index.versions(target.key, name)
  if (stored.length === 0) throw new NotFoundError(`package '${name}' not found`)
  const storedSet = new Set(stored.map((v) => v.version))
  for (const v of Object.keys(versions)) {
    if (!storedSet.has(v)) throw new InvalidInputError(`version ${v} of '${name}' is not published here; publish it with its tarball`)
  }
  const removed = removeMissing ? stored.filter((v) => !(v.version in versions)) : []
  if (removed.length > 0) ctx.authorize(request, target, 'delete')
  let tags: [string, string][] = []
  if (removeMissing) {
    const distTags = doc['dist-tags'] ?? {}
    if (!isObject(distTags)) throw new InvalidInputError('dist-tags must be an object')
    tags = Object.entries(distTags)
      .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] in versions)
      .map(([tag, v]) => [validateTag(tag), v])
  }
  const by = ctx.userName(request)
  const rev = ctx.artifacts.transaction(() => {
    let changed = false
    for (const row of stored) {
      if (!(row.version in versions)) continue
      const manifest = versions[row.version]
      const d = isObject(manifest) ? manifest.deprecated : undefined
      const message = typeof d === 'string' && d !== '' ? d : null
      // Deprecations are pointers (last writer wins across the mesh); refreshPackage applies them to the rows.
      const pointer = deprecationPointer(name, row.version)
      if (message !== null) changed = ctx.pointers.set(target.key, pointer, message, by) || changed
      else if (ctx.pointers.get(target.key, pointer)) changed = ctx.pointers.delete(target.key, pointer, by) || changed
    }
    for (const row of removed) {
      ctx.artifacts.delete(target.key, row.path, by)
      index.removeVersion(target.key, name, row.version)
      removeVersionPointers(ctx.pointers, target.key, name, row.version, by)
      changed = true
    }
    if (removeMissing && index.getPackage(target.key, name)) {
      for (const [tag, v] of tags) changed = ctx.pointers.set(target.key, distTagPointer(name, tag), v, by) || changed
      ensureLatestPointer(index, ctx.pointers, target.key, name, by)
    }
    refreshPackage(index, ctx.pointers, target.key, name, changed)
    return index.getPackage(target.key, name)?.rev ?? 0
  })
  return { rev: String(rev) }
}

/** DELETE /{name}/-rev/{rev} (and DELETE /{name}): the whole package, every tarball with it. */
export async function deletePackage(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string) {
  const { ctx, index } = deps
  const target = deployTarget(ctx, repo)
  ctx.authorize(request, target, 'delete')
  requireExistingName(name)
  const by = ctx.userName(request)
  const removed = ctx.artifacts.transaction(() => {
    const rows = index.versions(target.key, name)
    for (const row of rows) ctx.artifacts.delete(target.key, row.path, by)
    index.removePackage(target.key, name)
    removePackagePointers(ctx.pointers, target.key, name, by)
    return rows.length
  })
  if (removed === 0) throw new NotFoundError(`package '${name}' not found`)
  return reply.code(200).send({ ok: true, id: name })
}

/**
 * DELETE /{name}/-/{file}/-rev/{rev}: one tarball, the last step of `npm unpublish
 * pkg@version` (its version is normally gone already, from the PUT before).
 */
export async function deleteTarball(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string, file: string) {
  const { ctx, index } = deps
  const target = deployTarget(ctx, repo)
  ctx.authorize(request, target, 'delete')
  requireExistingName(name)
  const path = `${name}/-/${file}`
  const by = ctx.userName(request)
  const found = ctx.artifacts.transaction(() => {
    const row = index.versions(target.key, name).find((v) => v.path === path)
    if (row) {
      index.removeVersion(target.key, name, row.version)
      removeVersionPointers(ctx.pointers, target.key, name, row.version, by)
      ensureLatestPointer(index, ctx.pointers, target.key, name, by)
      refreshPackage(index, ctx.pointers, target.key, name, true)
    }
    return ctx.artifacts.delete(target.key, path, by) || row !== undefined
  })
  if (!found) throw new NotFoundError(`tarball '${path}' not found`)
  return reply.code(200).send({ ok: true })
}

/** PUT /-/package/{name}/dist-tags/{tag} with a JSON string body (the version), as `npm dist-tag add` sends. */
export async function putDistTag(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string, tag: string) {
  const { ctx, index } = deps
  const target = deployTarget(ctx, repo)
  ctx.authorize(request, target, 'write')
  validatePackageName(name)
  validateTag(tag)
  const version = await readSmallJson(request)
  if (typeof version !== 'string') throw new InvalidInputError('the body must be a JSON string naming a version')
  ctx.artifacts.transaction(() => {
    if (!index.getVersion(target.key, name, version)) throw new NotFoundError(`version ${version} of '${name}' not found`)
    ctx.pointers.set(target.key, distTagPointer(name, tag), version, ctx.userName(request))
    refreshPackage(index, ctx.pointers, target.key, name, true)
  })
  return reply.code(201).send({ ok: true, id: name, 'dist-tags': index.tags(target.key, name) })
}

/** DELETE /-/package/{name}/dist-tags/{tag} (`npm dist-tag rm`); `latest` stays. */
export async function deleteDistTag(deps: NpmDeps, request: FastifyRequest, reply: FastifyReply, repo: Repository, name: string, tag: string) {
  const { ctx, index } = deps
  const target = deployTarget(ctx, repo)
  ctx.authorize(request, target, 'write')
  requireExistingName(name)
  if (tag === 'latest') throw new InvalidInputError('the latest dist-tag cannot be removed; point it at another version instead')
  const by = ctx.userName(request)
  const removed = ctx.artifacts.transaction(() => {
    if (index.tags(target.key, name)[tag] === undefined) return false
    ctx.pointers.delete(target.key, distTagPointer(name, tag), by)
    refreshPackage(index, ctx.pointers, target.key, name, true)
    return true
  })
  if (!removed) throw new NotFoundError(`'${name}' has no dist-tag '${tag}'`)
  return reply.code(200).send({ ok: true, id: name, 'dist-tags': index.tags(target.key, name) })
}
