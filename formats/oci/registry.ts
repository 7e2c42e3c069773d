import type { FastifyRequest } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { deployTarget, findRepository, readOrder } from '../core/index.ts'
import type { Artifact, BlobRecord, Repository } from '../../store/index.ts'
import { BLOBS_PREFIX, OCI_FORMAT } from './constants.ts'
import { ManifestUnknownError, NameUnknownError, UnsupportedError } from './errors.ts'
import { parseName, parseReference, type OciName } from './names.ts'
import type { ManifestRow, OciIndex } from './oci-db.ts'

/** Artifact path of a layer or config blob in its repository. */
export const blobPath = (hex: string) => `${BLOBS_PREFIX}/${hex}`
/** Artifact path of a manifest of an image. */
export const manifestPath = (image: string, hex: string) => `${image}/_manifests/sha256/${hex}`
/** Artifact path of a tag: the bytes of the manifest it points at. */
export const tagPath = (image: string, tag: string) => `${image}/_tags/${tag}`

export interface ReadTarget {
  name: OciName
  /** The repository the client named (local or virtual). */
  repo: Repository
  /** Where reads go, in order. */
  members: Repository[]
}

export interface WriteTarget extends ReadTarget {
  /** Where writes land: the repository itself, or a virtual repository's deploy target. */
  target: Repository
}

export interface FoundManifest {
  repo: Repository
  row: ManifestRow
  artifact: Artifact
  blob: BlobRecord
}

/**
 * Name resolution, permissions and lookups shared by the routes: an OCI name's first segment
 * is a repository of this format; reads go through readOrder, writes to deployTarget.
 */
export class OciRegistry {
  constructor(
    readonly ctx: FormatContext,
    readonly index: OciIndex,
  ) {}

  /**
   * The OCI repository (of any type) an image name's first segment names, which the caller may
   * read: who may not is answered as for a private repository whether or not it exists
   * (findRepository), before anything else is said about the name.
   */
  readable(request: FastifyRequest, fullName: string): Repository {
    const name = parseName(fullName)
    const unknown = () => new NameUnknownError(`repository '${name.repo}' of '${fullName}' is not an OCI repository of this node`, { name: fullName })
    return findRepository(this.ctx, request, name.repo, OCI_FORMAT, { missing: unknown, mismatch: unknown })
  }

  /** A local or virtual repository the caller may read (remote ones are served by remote.ts). */
  repository(request: FastifyRequest, fullName: string): Repository {
    const repo = this.readable(request, fullName)
    if (repo.type === 'remote') {
      throw new NameUnknownError(`repository '${repo.key}' of '${fullName}' is not an OCI repository of this node`, { name: fullName })
    }
    return repo
  }

  /** Resolves a name for reading; throws Unauthorized/Forbidden unless the caller may read. */
  forRead(request: FastifyRequest, fullName: string): ReadTarget {
    const name = parseName(fullName)
    const repo = this.repository(request, fullName)
    return { name, repo, members: readOrder(this.ctx, request, repo) }
  }

  /** Resolves a name for pushing: write on the target (and read on a virtual repository). */
  forWrite(request: FastifyRequest, fullName: string): WriteTarget {
    const name = parseName(fullName)
    const repo = this.repository(request, fullName)
    if (repo.type === 'virtual') this.ctx.authorize(request, repo, 'read')
    const target = deployTarget(this.ctx, repo)
    this.ctx.authorize(request, target, 'write')
    return { name, repo, members: readOrder(this.ctx, request, repo), target }
  }

  /** Resolves a name for deleting: only in a local repository, with delete permission. */
  forDelete(request: FastifyRequest, fullName: string): WriteTarget {
    const name = parseName(fullName)
    const repo = this.repository(request, fullName)
    if (repo.type !== 'local') {
      this.ctx.authorize(request, repo, 'read')
      throw new UnsupportedError(`delete through the local repository, not the virtual '${repo.key}'`)
    }
    this.ctx.authorize(request, repo, 'delete')
    return { name, repo, members: [repo], target: repo }
  }

  /** The blob artifact in the first member that has it. */
  findBlob(members: Repository[], hex: string): { repo: Repository; artifact: Artifact; blob: BlobRecord } | undefined {
    for (const repo of members) {
      const artifact = this.ctx.artifacts.get(repo.key, blobPath(hex))
      if (!artifact) continue
      const blob = this.ctx.blobIndex.get(artifact.sha256)
      if (blob) return { repo, artifact, blob }
    }
    return undefined
  }

  /** A manifest by tag or digest: the first member that has it (so a virtual tag resolves in member order). */
  findManifest(t: ReadTarget, reference: string): FoundManifest {
    const ref = parseReference(reference)
    for (const repo of t.members) {
      const digest = ref.kind === 'digest' ? ref.digest : this.index.tag(repo.key, t.name.image, ref.tag)
      if (!digest) continue
      const row = this.index.manifest(repo.key, t.name.image, digest)
      if (!row) continue
      const artifact = this.ctx.artifacts.get(repo.key, manifestPath(t.name.image, digest.slice('sha256:'.length)))
      const blob = artifact ? this.ctx.blobIndex.get(artifact.sha256) : undefined
      if (artifact && blob) return { repo, row, artifact, blob }
    }
    throw new ManifestUnknownError(`manifest '${reference}' of '${t.name.full}' is unknown`, { name: t.name.full, reference })
  }

  /** Whether any member knows the image (for NAME_UNKNOWN on tags list). */
  hasImage(t: ReadTarget): boolean {
    return t.members.some((m) => this.index.hasImage(m.key, t.name.image))
  }
}
