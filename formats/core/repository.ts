import type { FastifyRequest } from 'fastify'
import { FormatMismatchError, InvalidPathError, NotFoundError, validateRepositoryKey, type Repository } from '../../store/index.ts'
import type { FormatContext } from './context.ts'

/**
 * The repository a format request addresses, `{prefix}/{repo}{rest}`, and the raw (still
 * percent-encoded, query removed) rest of the URL, '' or starting with '/'. Parsed from the raw
 * URL, not fastify's decoded params: path validation must see '%2e%2e', and keeping the slash
 * after the key lets a doubled slash ('/r//etc/x') be refused instead of quietly dropped.
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
  const repo = ctx.repositories.get(key)
  if (!repo) throw new NotFoundError(`repository '${key}' does not exist`)
  if (repo.format !== format) throw new FormatMismatchError(`repository '${key}' is a ${repo.format} repository, not ${format}`)
  return { repo, rest: slash < 0 ? '' : noQuery.slice(slash) }
}
