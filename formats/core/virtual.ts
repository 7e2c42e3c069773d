import type { FastifyRequest } from 'fastify'
import type { Repository } from '../../store/index.ts'
import { InvalidInputError, RepositoryNotFoundError } from '../../store/index.ts'
import type { FormatContext } from './context.ts'

/**
 * The repositories a read by `request` goes through, in order: the repository itself when
 * local or remote, its members (in configured order) when virtual. The caller checks read on
 * `repo`; a virtual repository then serves a member only to callers who may read that member
 * too, checked on every request, so a member added by someone else (or a grant revoked after
 * the member was added) never opens that member's content to readers of the virtual one.
 * Members the caller may not read are skipped silently, as if absent: their content answers
 * the format's own not-found.
 */
export function readOrder(ctx: FormatContext, request: FastifyRequest, repo: Repository): Repository[] {
  if (repo.type !== 'virtual') return [repo]
  return virtualMembers(ctx, repo).filter((member) => ctx.can(request, member, 'read'))
}

/**
 * A virtual repository's configured members that exist and may be members (same format, not
 * virtual), whoever asks. Only for questions about the configuration; reads use readOrder.
 */
function virtualMembers(ctx: FormatContext, repo: Repository): Repository[] {
  const keys = Array.isArray(repo.settings.members) ? (repo.settings.members as string[]) : []
  const out: Repository[] = []
  for (const k of keys) {
    const member = ctx.repositories.get(k)
    if (member && member.format === repo.format && member.type !== 'virtual') out.push(member)
  }
  return out
}

/**
 * Where a publish to `repo` lands: the repository itself when local, the configured
 * defaultDeployRepo when virtual. The caller must hold write on the target.
 */
export function deployTarget(ctx: FormatContext, repo: Repository): Repository {
  if (repo.type === 'local') return repo
  if (repo.type === 'virtual') {
    const key = repo.settings.defaultDeployRepo
    if (typeof key !== 'string') {
      throw new InvalidInputError(`virtual repository '${repo.key}' has no defaultDeployRepo to publish to`)
    }
    const target = ctx.repositories.get(key)
    if (!target) throw new RepositoryNotFoundError(`deploy repository '${key}' of '${repo.key}' does not exist`)
    return target
  }
  throw new InvalidInputError(`cannot publish to ${repo.type} repository '${repo.key}'`)
}
