import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  ArtifactNotFoundError,
  FormatMismatchError,
  InvalidInputError,
  NotFoundError,
  NotImplementedError,
  RepositoryNotFoundError,
  guardedBody,
  validateRepositoryKey,
  type Repository,
} from '../../store/index.ts'
import type { FormatContext } from '../core/index.ts'
import { contentLength, deployTarget, findRepository, readOrder, requireSignedInOrPublic, sendBlob, streamRawBodies } from '../core/index.ts'
import {
  CARGO_FORMAT,
  CRATE_CONTENT_TYPE,
  DEFAULT_SEARCH_RESULTS,
  INDEX_CONTENT_TYPE,
  MAX_PUBLISH_JSON_BYTES,
  MAX_SEARCH_RESULTS,
} from './constants.ts'
import { readCrateManifest } from './crate-archive.ts'
import { cratePath, newest, precheckPublish, publishVersion, setYanked, versionsIn, visibleVersions } from './crate-store.ts'
import { renderIndexFile, sendGenerated } from './index-file.ts'
import { parsePublishMetadata } from './metadata.ts'
import { normalizeCrateName, parseIndexPath, validateCrateName, validateVersion } from './names.ts'
import { PublishBodyReader, readCrateLength, readPublishJson } from './publish-body.ts'
import { cargoErrorHandler } from './wire-errors.ts'
import { serveRemoteCrate, serveRemoteIndexFile } from './remote.ts'

interface RepoParams {
  repo: string
}
interface CrateParams extends RepoParams {
  name: string
}
interface VersionParams extends CrateParams {
  version: string
}

/**
 * The cargo registry protocol under /cargo/{repo}/: the sparse index (RFC 2789) at index/,
 * and the Web API (publish, yank, unyank, download, owners, search) at api/v1/.
 * https://doc.rust-lang.org/cargo/reference/registries.html
 */
export function cargoPlugin(ctx: FormatContext) {
  return async function cargo(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)
    app.setErrorHandler(cargoErrorHandler)
    app.setNotFoundHandler((request, reply) => {
      cargoErrorHandler(new NotFoundError(`no cargo route for ${request.method} ${request.url.split('?')[0]}`), request, reply)
    })

    const validKey = (key: string): string => {
      try {
        return validateRepositoryKey(key)
      } catch {
        throw new RepositoryNotFoundError(`invalid repository key '${key.slice(0, 80)}'`)
      }
    }
    /** The repository `key` names, which the caller may read (findRepository). */
    const readable = (request: FastifyRequest, key: string): Repository =>
      findRepository(ctx, request, validKey(key), CARGO_FORMAT, {
        missing: () => new RepositoryNotFoundError(`repository '${key}' does not exist`),
        mismatch: (repo) => new FormatMismatchError(`repository '${key}' is a ${repo.format} repository`),
      })
    /** Where writes through `repo` land (the deploy target of a virtual one), with write checked there. */
    const writable = (request: FastifyRequest, key: string): Repository => {
      const repo = readable(request, key)
      const target = deployTarget(ctx, repo)
      ctx.authorize(request, target, 'write')
      return target
    }
    const base = (request: FastifyRequest, repo: Repository) => `${ctx.baseUrl(request)}/cargo/${repo.key}`

    // https://doc.rust-lang.org/cargo/reference/registry-index.html#index-configuration
    app.get<{ Params: RepoParams }>('/:repo/index/config.json', async (request, reply) => {
      const repo = readable(request, request.params.repo)
      const config = {
        dl: `${base(request, repo)}/api/v1/crates`,
        api: base(request, repo),
        'auth-required': !repo.public,
      }
      return sendGenerated(request, reply, JSON.stringify(config), 'application/json', repo.updatedAt)
    })

    app.get<{ Params: RepoParams & { '*': string } }>('/:repo/index/*', async (request, reply) => {
      const repo = readable(request, request.params.repo)
      const name = parseIndexPath(request.params['*'])
      if (!name) throw new NotFoundError(`'${request.params['*']}' is not an index file path`)
      if (repo.type === 'remote') return serveRemoteIndexFile(ctx, request, reply, repo, request.params['*'], base(request, repo))
      const versions = visibleVersions(ctx, request, repo, name).filter((v) => v.entry.name.toLowerCase() === name)
      if (versions.length === 0) throw new NotFoundError(`crate \`${name}\` does not exist in repository '${repo.key}'`)
      const lastModified = Math.max(...versions.map((v) => v.artifact.updatedAt))
      return sendGenerated(request, reply, renderIndexFile(versions), INDEX_CONTENT_TYPE, lastModified)
    })

    // https://doc.rust-lang.org/cargo/reference/registry-web-api.html#publish
    app.put<{ Params: RepoParams }>('/:repo/api/v1/crates/new', async (request, reply) => {
      const target = writable(request, request.params.repo)
      const maxCrateBytes = Math.min(ctx.maxUploadBytes, target.settings.maxUploadBytes ?? Infinity)
      const limits = { maxJsonBytes: MAX_PUBLISH_JSON_BYTES, maxCrateBytes }
      try {
        const announced = contentLength(request, maxCrateBytes + MAX_PUBLISH_JSON_BYTES + 8)
        // The whole body is guarded (silence, minimum rate), the metadata part as the .crate part.
        const reader = new PublishBodyReader(guardedBody(request.raw, ctx.clientBody))
        const { entry, about } = parsePublishMetadata(await readPublishJson(reader, limits))
        precheckPublish(ctx, target.key, entry)
        const crateLength = await readCrateLength(reader, limits, announced)
        const blob = await ctx.blobs.ingest(reader.take(crateLength, 'the .crate'), {
          maxBytes: maxCrateBytes,
          expectedSize: crateLength,
        })
        await reader.expectEnd()
        const pkg = await readCrateManifest(await ctx.blobs.open(blob.sha256), `${entry.name}-${entry.vers}`)
        if (pkg.name !== entry.name || pkg.version !== entry.vers) {
          throw new InvalidInputError(
            `the .crate's Cargo.toml names \`${pkg.name ?? '?'}\` ${pkg.version ?? '?'}, but the metadata says \`${entry.name}\` ${entry.vers}`,
          )
        }
        publishVersion(ctx, { repo: target, entry, about, blob, user: ctx.userName(request) })
      } catch (err) {
        ctx.uploadFailed(CARGO_FORMAT, (err as { code?: string }).code ?? 'error')
        throw err
      }
      return reply.send({ warnings: { invalid_categories: [], invalid_badges: [], other: [] } })
    })

    // https://doc.rust-lang.org/cargo/reference/registry-web-api.html#yank
    const yank = (yanked: boolean) => async (request: FastifyRequest<{ Params: VersionParams }>, reply: FastifyReply) => {
      const { name, version } = request.params
      validateCrateName(name)
      validateVersion(version)
      const target = writable(request, request.params.repo)
      setYanked(ctx, target, name, version, yanked)
      return reply.send({ ok: true })
    }
    app.delete<{ Params: VersionParams }>('/:repo/api/v1/crates/:name/:version/yank', yank(true))
    app.put<{ Params: VersionParams }>('/:repo/api/v1/crates/:name/:version/unyank', yank(false))

    // The `dl` URL of config.json, to which cargo appends /{crate}/{version}/download.
    app.get<{ Params: VersionParams }>('/:repo/api/v1/crates/:name/:version/download', async (request, reply) => {
      const repo = readable(request, request.params.repo)
      const { name, version } = request.params
      validateCrateName(name)
      validateVersion(version)
      if (repo.type === 'remote') return serveRemoteCrate(ctx, request, reply, repo, name, version)
      for (const member of readOrder(ctx, request, repo)) {
        const artifact = ctx.artifacts.get(member.key, cratePath(name, version))
        if (!artifact) continue
        const blob = ctx.blobIndex.get(artifact.sha256)
        if (!blob) continue
        return sendBlob(request, reply, ctx.blobs, { blob, contentType: CRATE_CONTENT_TYPE, lastModified: artifact.updatedAt })
      }
      throw new ArtifactNotFoundError(`crate \`${name}\` ${version} does not exist in repository '${repo.key}'`)
    })

    // https://doc.rust-lang.org/cargo/reference/registry-web-api.html#owners-list
    app.get<{ Params: CrateParams }>('/:repo/api/v1/crates/:name/owners', async (request, reply) => {
      const repo = readable(request, request.params.repo)
      const name = validateCrateName(request.params.name)
      for (const member of readOrder(ctx, request, repo)) {
        const versions = versionsIn(ctx, member.key, name)
        if (versions.length === 0) continue
        const logins = [...new Set(versions.map((v) => v.artifact.createdBy).filter((u): u is string => u !== null))]
        return reply.send({ users: logins.map((login, i) => ({ id: i + 1, login, name: login })) })
      }
      throw new NotFoundError(`crate \`${name}\` does not exist in repository '${repo.key}'`)
    })
    const ownersUnsupported = async (request: FastifyRequest<{ Params: CrateParams }>) => {
      readable(request, request.params.repo)
      throw new NotImplementedError(
        'owners are the users who published the crate; who may publish is set by repository permissions (ak permission …)',
      )
    }
    app.put<{ Params: CrateParams }>('/:repo/api/v1/crates/:name/owners', ownersUnsupported)
    app.delete<{ Params: CrateParams }>('/:repo/api/v1/crates/:name/owners', ownersUnsupported)

    // https://doc.rust-lang.org/cargo/reference/registry-web-api.html#search
    app.get<{ Params: RepoParams; Querystring: { q?: string; per_page?: string } }>('/:repo/api/v1/crates', async (request, reply) => {
      const repo = readable(request, request.params.repo)
      const query = normalizeCrateName(String(request.query.q ?? '').trim())
      const perPage = Math.min(Math.max(Number(request.query.per_page) || DEFAULT_SEARCH_RESULTS, 1), MAX_SEARCH_RESULTS)
      const names = new Set<string>()
      for (const member of readOrder(ctx, request, repo)) {
        for (const dir of ctx.artifacts.list(member.key, 'crates').dirs) if (dir.includes(query)) names.add(dir)
      }
      const sorted = [...names].sort((a, b) => Number(b === query) - Number(a === query) || a.localeCompare(b))
      const crates = []
      for (const n of sorted.slice(0, perPage)) {
        const latest = newest(visibleVersions(ctx, request, repo, n))
        if (!latest) continue
        crates.push({ name: latest.entry.name, max_version: latest.entry.vers, description: latest.about?.description ?? '' })
      }
      return reply.send({ crates, meta: { total: names.size } })
    })

    // `cargo login` prints "please paste the token found on {api}/me". A page for a person, the
    // same under any key for a signed-in caller; anonymous ones get it only for a public
    // repository, else the 401 a private one gets (requireSignedInOrPublic).
    app.get<{ Params: RepoParams }>('/:repo/me', async (request, reply) => {
      const key = validKey(request.params.repo)
      requireSignedInOrPublic(ctx, request, key, CARGO_FORMAT)
      return reply
        .type('text/plain; charset=utf-8')
        .send(
          `Create an API token for ${ctx.baseUrl(request)}/cargo/${key} with \`ak token create <user>\` ` +
            `(or POST /api/v1/tokens) and paste it into \`cargo login --registry <name>\`.\n`,
        )
    })

  }
}
