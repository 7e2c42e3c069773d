import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { etagMatches, findRepository, readOrder, sendBlob, servesActiveContent, streamRawBodies, type FormatContext } from '../core/index.ts'
import {
  ArtifactNotFoundError,
  InvalidPathError,
  NotFoundError,
  validateArtifactPath,
  validateRepositoryKey,
  type Artifact,
  type Repository,
} from '../../store/index.ts'
import { PYPI_FORMAT, SIMPLE_INDEX_CSP } from './constants.ts'
import { distPath, distProperties, METADATA_SUFFIX, PACKAGES_DIR, projectDir } from './layout.ts'
import { isNormalizedProjectName, isValidProjectName, normalizeProjectName } from './names.ts'
import { CONTENT_TYPES, negotiateSimpleFormat, renderProjectList, renderProjectPage, type IndexFile } from './simple-index.ts'
import { handleUpload } from './upload.ts'
import { cacheHeaders } from '../core/index.ts'
import { mergedProjectFiles, REMOTE_PAGES_DIR, serveRemoteFile } from './remote.ts'
import { renderMergedPage } from './remote-page.ts'
import { pypiErrorHandler } from './wire-errors.ts'

export { PYPI_FORMAT, SIMPLE_API_VERSION, SIMPLE_HTML, SIMPLE_JSON } from './constants.ts'
export { normalizeProjectName, normalizeVersion, isValidProjectName, parseDistributionFilename } from './names.ts'
export { negotiateSimpleFormat, renderProjectList, renderProjectPage, type IndexFile, type SimpleFormat } from './simple-index.ts'
export { parseCoreMetadata, type CoreMetadata } from './core-metadata.ts'
export { readWheelMetadata, type StoredFile, type WheelMetadataLimits } from './wheel-metadata.ts'
export { readSdistPkgInfo, type SdistMetadataLimits } from './sdist-metadata.ts'
export { receiveUploadForm, type UploadForm, type FormFields } from './upload-form.ts'
export { planUpload, type UploadPlan } from './upload.ts'
export { PYPI_STATUS, toPypiWireError } from './wire-errors.ts'
export { pypiPathProblem, pypiReplicationHooks } from './replication.ts'
export { parseHtmlPage, parseJsonPage, parseProjectPage, renderMergedPage, type SimpleFile } from './remote-page.ts'

type RepoParams = { repo: string }
type ProjectParams = { repo: string; project: string }
type FileParams = { repo: string; project: string; filename: string }

/**
 * The PyPI format at /pypi/{repo}/: the simple repository API at /simple/ (PEP 503 HTML and
 * PEP 691 JSON by content negotiation, PEP 658/714 core metadata, PEP 700 upload times),
 * files at /packages/{project}/{filename}, and uploads through the legacy API twine uses
 * (POST /pypi/{repo}/). Virtual repositories merge their members' indexes (first member wins
 * per filename) and upload to their defaultDeployRepo.
 */
export function pypiFormat(ctx: FormatContext) {
  return async function pypiPlugin(app: FastifyInstance): Promise<void> {
    streamRawBodies(app)
    app.setErrorHandler(pypiErrorHandler)
    app.setNotFoundHandler((request, reply) => {
      reply.code(404).type('text/plain; charset=utf-8').send(`404 no route for ${request.method} ${request.url.split('?')[0]}\n`)
    })

    /** The repository `key` names, which the caller may read (findRepository). */
    const repository = (request: FastifyRequest, key: string): Repository => {
      try {
        validateRepositoryKey(key)
      } catch {
        throw new InvalidPathError(`invalid repository key '${key}'`)
      }
      return findRepository(ctx, request, key, PYPI_FORMAT)
    }

    const readable = (request: FastifyRequest, key: string): Repository[] => readOrder(ctx, request, repository(request, key))

    /** Every file of a project across the members, first member winning per filename. */
    const projectFiles = (members: Repository[], project: string): IndexFile[] => {
      const byName = new Map<string, IndexFile>()
      for (const member of members) {
        for (const a of ctx.artifacts.list(member.key, projectDir(project)).files) {
          const filename = a.path.slice(a.path.lastIndexOf('/') + 1)
          if (filename.endsWith(METADATA_SUFFIX) || byName.has(filename)) continue
          const props = distProperties(a)
          if (!props) continue
          byName.set(filename, {
            filename,
            url: `../../${PACKAGES_DIR}/${project}/${encodeURIComponent(filename)}`,
            sha256: a.sha256,
            size: a.size,
            uploadTime: a.createdAt,
            version: props.version,
            requiresPython: props.requiresPython,
            metadataSha256: props.metadataSha256,
          })
        }
      }
      return [...byName.values()].sort((x, y) => x.uploadTime - y.uploadTime || (x.filename < y.filename ? -1 : 1))
    }

    const sendIndex = (request: FastifyRequest, reply: FastifyReply, render: (f: ReturnType<typeof negotiateSimpleFormat>) => string) => {
      const query = request.query as Record<string, string | undefined>
      const format = negotiateSimpleFormat(request.headers.accept, query.format)
      const body = render(format)
      // A validator, so proxies in front (and remote repositories on other nodes) revalidate with a 304.
      const etag = `W/"${createHash('sha1').update(body).digest('hex')}"`
      reply.header('content-type', CONTENT_TYPES[format]).header('vary', 'Accept').header('cache-control', 'no-cache').header('etag', etag)
      // The node's own HTML, which browsers render: it holds uploaders' file names (escaped), so
      // no script or resource may run in it even if escaping failed. Links (and downloads) still
      // work, which a sandbox would stop; pip ignores the header.
      reply.header('content-security-policy', SIMPLE_INDEX_CSP)
      if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send()
      return reply.send(request.method === 'HEAD' ? undefined : body)
    }

    const redirect = (reply: FastifyReply, location: string) => reply.code(301).header('location', location).send()

    // PEP 503: URLs end in '/'; the repository may redirect the others.
    app.route<{ Params: RepoParams }>({
      method: ['GET', 'HEAD'],
      url: '/:repo/simple',
      handler: async (request, reply) => {
        readable(request, request.params.repo)
        return redirect(reply, 'simple/')
      },
    })

    app.route<{ Params: RepoParams }>({
      method: ['GET', 'HEAD'],
      url: '/:repo/simple/',
      handler: async (request, reply) => {
        const members = readable(request, request.params.repo)
        const projects = new Set<string>()
        for (const m of members) for (const d of ctx.artifacts.list(m.key, PACKAGES_DIR).dirs) projects.add(d)
        // Remote members list the projects this node has fetched pages of.
        for (const m of members) if (m.type === 'remote') for (const d of ctx.artifacts.list(m.key, REMOTE_PAGES_DIR).dirs) projects.add(d)
        return sendIndex(request, reply, (f) => renderProjectList([...projects].sort(), f))
      },
    })

    const projectPage = (trailingSlash: boolean) => async (request: FastifyRequest<{ Params: ProjectParams }>, reply: FastifyReply) => {
      const { repo: key, project: raw } = request.params
      const members = readable(request, key)
      if (!isValidProjectName(raw)) throw new NotFoundError(`'${raw}' is not a valid project name`)
      const project = normalizeProjectName(raw)
      // Redirect to the normalised name, relative so that proxies in front keep working.
      if (!trailingSlash) return redirect(reply, `${encodeURIComponent(project)}/`)
      if (!isNormalizedProjectName(raw)) return redirect(reply, `../${encodeURIComponent(project)}/`)
      if (members.some((m) => m.type === 'remote')) {
        const merged = await mergedProjectFiles(ctx, members, project, (m) => projectFiles([m], project))
        if (merged.files.length === 0) throw new NotFoundError(`no project '${project}' in repository '${key}'`)
        if (merged.cache) cacheHeaders(reply, merged.cache)
        return sendIndex(request, reply, (f) => renderMergedPage(project, merged.files, f))
      }
      const files = projectFiles(members, project)
      if (files.length === 0) throw new NotFoundError(`no project '${project}' in repository '${key}'`)
      return sendIndex(request, reply, (f) => renderProjectPage(project, files, f))
    }
    app.route<{ Params: ProjectParams }>({ method: ['GET', 'HEAD'], url: '/:repo/simple/:project', handler: projectPage(false) })
    app.route<{ Params: ProjectParams }>({ method: ['GET', 'HEAD'], url: '/:repo/simple/:project/', handler: projectPage(true) })

    // Distribution files and their PEP 658 `.metadata`, the first member that holds it wins.
    app.route<{ Params: FileParams }>({
      method: ['GET', 'HEAD'],
      url: `/:repo/${PACKAGES_DIR}/:project/:filename`,
      handler: async (request, reply) => {
        const { repo: key, project: raw, filename } = request.params
        const members = readable(request, key)
        if (!isValidProjectName(raw)) throw new NotFoundError(`'${raw}' is not a valid project name`)
        if (filename.includes('/')) throw new NotFoundError(`'${filename}' is not a file name`)
        const path = validateArtifactPath(distPath(normalizeProjectName(raw), filename))
        let found: Artifact | undefined
        for (const m of members) {
          if (m.type === 'remote') {
            if (await serveRemoteFile(ctx, request, reply, m, normalizeProjectName(raw), filename)) return reply
            continue
          }
          found = ctx.artifacts.get(m.key, path)
          if (found) break
        }
        if (!found) throw new ArtifactNotFoundError(`'${filename}' not found in repository '${key}'`)
        const blob = ctx.blobIndex.get(found.sha256)
        if (!blob) throw new ArtifactNotFoundError(`the bytes of '${filename}' are not on this node`)
        return sendBlob(request, reply, ctx.blobs, {
          blob,
          contentType: found.contentType ?? 'application/octet-stream',
          lastModified: found.updatedAt,
          serveActiveContent: servesActiveContent(repository(request, key)),
        })
      },
    })

    const upload = async (request: FastifyRequest<{ Params: RepoParams }>, reply: FastifyReply) =>
      handleUpload(ctx, repository(request, request.params.repo), request, reply)
    app.post<{ Params: RepoParams }>('/:repo', upload)
    app.post<{ Params: RepoParams }>('/:repo/', upload)
    // Some tools append 'legacy/' as on upload.pypi.org.
    app.post<{ Params: RepoParams }>('/:repo/legacy/', upload)
  }
}
