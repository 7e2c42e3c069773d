import type { Repository } from '../../store/index.ts'
import { InvalidInputError, RepositoryNotFoundError } from '../../store/index.ts'
import type { FormatContext } from './context.ts'

/**
 * The repositories a read goes through, in order: the repository itself when local, its
 * members (in configured order) when virtual. Reading through a virtual repository needs read
 * on the virtual one only, as in Artifactory and Nexus.
 */
export function readOrder(ctx: FormatContext, repo: Repository): Repository[] {
  if (repo.type !== 'virtual') return [repo]
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
