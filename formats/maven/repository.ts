import type { FastifyRequest } from 'fastify'
import { FormatMismatchError, InvalidPathError, RepositoryNotFoundError, validateRepositoryKey, type Repository } from '../../store/index.ts'
import type { FormatContext } from '../core/index.ts'
import { MAVEN_FORMAT } from './constants.ts'

/**
 * The Maven repository a request addresses and the raw (still percent-encoded) rest of its
 * URL. Parsed from the raw URL, not fastify's decoded params: validation must see '%2e%2e'.
 */
export function resolveRepository(ctx: FormatContext, request: FastifyRequest, prefix: string): { repo: Repository; rest: string } {
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
  if (!repo) throw new RepositoryNotFoundError(`repository '${key}' does not exist`)
  if (repo.format !== MAVEN_FORMAT) throw new FormatMismatchError(`repository '${key}' is a ${repo.format} repository, not maven`)
  return { repo, rest: slash < 0 ? '' : noQuery.slice(slash + 1) }
}
