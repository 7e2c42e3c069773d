import type { FastifyRequest } from 'fastify'
import { FormatMismatchError, InvalidPathError, NotFoundError, validateRepositoryKey, type Repository } from '../../store/index.ts'
import type { FormatContext } from './context.ts'

/**
 * A private repository of `key` that no one was granted anything on: what a repository that does
 * not exist is checked as, so that it is refused exactly as a private one would be.
 */
export function privateStandIn(key: string, format = ''): Repository {
  return { key, format, type: 'local', description: '', public: false, settings: {}, createdAt: 0, updatedAt: 0 }
}

/** The errors a format answers a missing repository, or one of another format, with (to a caller who may know). */
export interface RepositoryErrors {
  /** @default NotFoundError "repository '…' does not exist" */
  missing?(key: string): Error
  /** @default FormatMismatchError */
  mismatch?(repo: Repository): Error
}

/**
 * The repository `key` names, for a caller who may read it. Every format looks its repositories
 * up here, so that no answer tells an outsider which private repositories exist (issue 11
 * part 9): a caller who may not read the repository gets what `authorize` gives for a private
 * one (401 with the format's challenge when anonymous, 403 otherwise), and so does a caller
 * naming a repository that does not exist, or one of another format, unless they could read a
 * repository of that key if it existed (node admins, holders of a grant on the key): only they
 * learn that it does not exist or is not of this format. Reading is the least any action on a
 * repository needs, so the routes' own checks (write, delete…) come after this one.
 */
export function findRepository(ctx: FormatContext, request: FastifyRequest, key: string, format: string, errors: RepositoryErrors = {}): Repository {
  const repo = ctx.repositories.get(key)
  const known = repo?.format === format ? repo : undefined
  // A repository of another format answers as if missing, except to those who may read it.
  ctx.authorize(request, repo && (known || ctx.can(request, repo, 'read')) ? repo : privateStandIn(key, format), 'read')
  if (!repo) throw errors.missing?.(key) ?? new NotFoundError(`repository '${key}' does not exist`)
  if (!known) throw errors.mismatch?.(repo) ?? new FormatMismatchError(`repository '${key}' is a ${repo.format} repository, not ${format}`)
  return known
}

/**
 * For a node-wide route under a repository's URL (npm's `-/ping`, cargo's `me`), which says
 * nothing about the repository to a signed-in caller and so looks nothing up for one. An
 * anonymous caller is answered as by findRepository: a public repository of the format passes,
 * anything else (private, missing, another format) gets the same 401 with the format's
 * challenge, so these routes are no existence oracle either (issue 11 part 9).
 */
export function requireSignedInOrPublic(ctx: FormatContext, request: FastifyRequest, key: string, format: string): void {
  if (ctx.userName(request) !== null) return
  findRepository(ctx, request, key, format)
}

/**
 * The repository a format request addresses, `{prefix}/{repo}{rest}`, and the raw (still
 * percent-encoded, query removed) rest of the URL, '' or starting with '/'. Parsed from the raw
 * URL, not fastify's decoded params: path validation must see '%2e%2e', and keeping the slash
 * after the key lets a doubled slash ('/r//etc/x') be refused instead of quietly dropped.
 * Looked up by findRepository: the caller may read it.
 */
export function resolveRepository(
  ctx: FormatContext,
  request: FastifyRequest,
  prefix: string,
  format: string,
): { repo: Repository; rest: string } {
  const url = request.url.slice(prefix.length + 1)
  const q = url.indexOf('?')
  const noQuery = q < 0 ? url : url.slice(0, q)
  const slash = noQuery.indexOf('/')
  const rawKey = slash < 0 ? noQuery : noQuery.slice(0, slash)
  let key: string
  try {
    key = validateRepositoryKey(decodeURIComponent(rawKey))
  } catch {
    throw new InvalidPathError(`invalid repository key in '${request.url}'`)
  }
  const repo = findRepository(ctx, request, key, format)
  return { repo, rest: slash < 0 ? '' : noQuery.slice(slash) }
}
