import semver from 'semver'
import type { FastifyRequest } from 'fastify'
import {
  ArtifactNotFoundError,
  ImmutableArtifactError,
  InvalidInputError,
  type Artifact,
  type BlobDigests,
  type Repository,
} from '../../store/index.ts'
import type { FormatContext } from '../core/index.ts'
import { readOrder } from '../core/index.ts'
import { CRATE_CONTENT_TYPE } from './constants.ts'
import type { CrateDescription, IndexEntry } from './metadata.ts'
import { normalizeCrateName, versionKey } from './names.ts'

/**
 * Crates are artifacts at crates/{normalised name}/{normalised name}-{version}.crate whose
 * properties carry the version's index line (`cargo`) and its description (`cargoAbout`).
 * The sparse index, owners and search are generated from these rows; no other table.
 */
export interface StoredVersion {
  entry: IndexEntry
  about: CrateDescription | undefined
  artifact: Artifact
}

export function crateDir(name: string): string {
  return `crates/${normalizeCrateName(name)}`
}

export function cratePath(name: string, vers: string): string {
  const n = normalizeCrateName(name)
  return `crates/${n}/${n}-${vers}.crate`
}

function fromArtifact(a: Artifact): StoredVersion | undefined {
  const entry = a.properties.cargo as IndexEntry | undefined
  if (!entry || typeof entry.name !== 'string' || typeof entry.vers !== 'string') return undefined
  return { entry: { ...entry, cksum: a.sha256 }, about: a.properties.cargoAbout as CrateDescription | undefined, artifact: a }
}

/** Every version of the crate (any spelling of its name) in one repository, oldest first. */
export function versionsIn(ctx: FormatContext, repoKey: string, name: string): StoredVersion[] {
  const out: StoredVersion[] = []
  for (const a of ctx.artifacts.list(repoKey, crateDir(name)).files) {
    const v = fromArtifact(a)
    if (v) out.push(v)
  }
  return out.sort((x, y) => x.artifact.createdAt - y.artifact.createdAt)
}

/**
 * The versions a read through `repo` sees: a local repository's own, or a virtual one's
 * members the caller may read merged, the first member holding a version winning it.
 */
export function visibleVersions(ctx: FormatContext, request: FastifyRequest, repo: Repository, name: string): StoredVersion[] {
  const seen = new Set<string>()
  const out: StoredVersion[] = []
  for (const member of readOrder(ctx, request, repo)) {
    for (const v of versionsIn(ctx, member.key, name)) {
      const key = versionKey(v.entry.vers)
      if (seen.has(key)) continue
      seen.add(key)
      out.push(v)
    }
  }
  return out.sort((x, y) => x.artifact.createdAt - y.artifact.createdAt)
}

/** Refuses a version that exists already, or a name that collides with another spelling. */
function checkPublishable(existing: StoredVersion[], entry: IndexEntry): void {
  const other = existing.find((v) => v.entry.name !== entry.name)
  if (other) {
    throw new InvalidInputError(
      `crate \`${entry.name}\` conflicts with the existing crate \`${other.entry.name}\` (names are compared ignoring case and \`-\`/\`_\`)`,
    )
  }
  const key = versionKey(entry.vers)
  const same = existing.find((v) => versionKey(v.entry.vers) === key)
  if (same) {
    throw new ImmutableArtifactError(`crate version \`${same.entry.vers}\` is already uploaded`, {
      crate: entry.name,
      version: same.entry.vers,
    })
  }
}

/** Fails early (before the .crate is read) when the publish can only be refused. */
export function precheckPublish(ctx: FormatContext, repoKey: string, entry: IndexEntry): void {
  checkPublishable(versionsIn(ctx, repoKey, entry.name), entry)
}

export interface PublishInput {
  repo: Repository
  entry: IndexEntry
  about: CrateDescription
  blob: BlobDigests
  user: string | null
}

/** Records the version: the check and the artifact put in one transaction. */
export function publishVersion(ctx: FormatContext, input: PublishInput): StoredVersion {
  return ctx.artifacts.transaction(() => {
    const { entry } = input
    checkPublishable(versionsIn(ctx, input.repo.key, entry.name), entry)
    const stored: IndexEntry = { ...entry, cksum: input.blob.sha256, yanked: false }
    const result = ctx.artifacts.put({
      repo: input.repo.key,
      path: cratePath(entry.name, entry.vers),
      blob: input.blob,
      contentType: CRATE_CONTENT_TYPE,
      properties: { cargo: stored, cargoAbout: input.about },
      createdBy: input.user,
      overwrite: false,
    })
    return { entry: stored, about: input.about, artifact: result.artifact }
  })
}

/** Sets or clears `yanked` on one version; false when it already had that state. */
export function setYanked(ctx: FormatContext, repo: Repository, name: string, vers: string, yanked: boolean): boolean {
  return ctx.artifacts.transaction(() => {
    const version = versionsIn(ctx, repo.key, name).find((v) => v.entry.vers === vers)
    if (!version) throw new ArtifactNotFoundError(`crate \`${name}\` has no version \`${vers}\` in repository '${repo.key}'`)
    if (version.entry.yanked === yanked) return false
    const blob = ctx.blobIndex.get(version.artifact.sha256)
    if (!blob) throw new ArtifactNotFoundError(`the bytes of \`${name}\` ${vers} are not on this node`)
    ctx.artifacts.put({
      repo: repo.key,
      path: version.artifact.path,
      blob,
      contentType: version.artifact.contentType,
      properties: { ...version.artifact.properties, cargo: { ...version.entry, yanked } },
      createdBy: version.artifact.createdBy,
      overwrite: false,
    })
    return true
  })
}

/** The newest version, preferring versions that are not yanked (crates.io's max_version). */
export function newest(versions: StoredVersion[]): StoredVersion | undefined {
  const live = versions.filter((v) => !v.entry.yanked)
  const pool = live.length > 0 ? live : versions
  return pool.reduce<StoredVersion | undefined>(
    (best, v) => (best === undefined || semver.gt(v.entry.vers, best.entry.vers) ? v : best),
    undefined,
  )
}
