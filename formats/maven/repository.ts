import type { FastifyRequest } from 'fastify'
import type { Repository } from '../../store/index.ts'
import { resolveRepository, type FormatContext } from '../core/index.ts'
import { MAVEN_FORMAT } from './constants.ts'

/**
 * The Maven repository a request addresses and the raw (still percent-encoded) rest of its
 * URL, without the slash after the key.
 */
export function resolveMavenRepository(ctx: FormatContext, request: FastifyRequest, prefix: string): { repo: Repository; rest: string } {
  const { repo, rest } = resolveRepository(ctx, request, prefix, MAVEN_FORMAT)
  return { repo, rest: rest.slice(1) }
}
