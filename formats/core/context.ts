import type { FastifyRequest } from 'fastify'
import type { RemoteOptions } from './remote/types.ts'
import type { Action, ArtifactStore, BlobIndex, BlobStore, ClientBodyLimits, Db, PointerStore, Repository, RepositoryStore } from '../../store/index.ts'

/**
 * What a format needs from the node, and nothing more. node/ builds it; formats never
 * import node/ or mesh/.
 */
export interface FormatContext {
  repositories: RepositoryStore
  artifacts: ArtifactStore
  blobs: BlobStore
  blobIndex: BlobIndex
  /**
   * A directory on the data dir's file system for a format's in-progress files (e.g. resumable
   * uploads); a serving node empties it at start-up. Use a sub-directory named after the format.
   */
  tempDir: string
  /**
   * The metadata database, for a format's own index tables (its migrations/ range). Write them
   * inside artifacts.transaction(() => …) so index rows and artifacts change together.
   */
  db: Db
  /**
   * Mutable pointers (npm dist-tags, deprecations…): last writer wins by HLC across the mesh.
   * Write them inside artifacts.transaction(() => …) beside the index rows they drive.
   */
  pointers: PointerStore
  /** Throws UnauthorizedError (anonymous) or ForbiddenError unless the caller may do `action`. */
  authorize(request: FastifyRequest, repo: Repository, action: Action): void
  /** Whether the caller may do `action`, without throwing. */
  can(request: FastifyRequest, repo: Repository, action: Action): boolean
  /** The caller's user name, or null when anonymous (recorded as created_by). */
  userName(request: FastifyRequest): string | null
  /** Node-wide upload limit in bytes. */
  maxUploadBytes: number
  /**
   * What a client's request body must keep up (silence, minimum rate): pass them to every read of
   * a body, `ingest(request.raw, { ...ctx.clientBody })` or bodyWatchdog(ctx.clientBody).
   */
  clientBody: ClientBodyLimits
  /** Resumable upload sessions (OCI chunked uploads): idle lifetime and how many one user may hold open. */
  uploadSessions: UploadSessionLimits
  /** Base URL of this node as the client reached it (for URLs in generated metadata). */
  baseUrl(request: FastifyRequest): string
  /** Verifies a user's password (rate limited); throws UnauthorizedError or TooManyAttemptsError. */
  login(request: FastifyRequest, name: string, password: string): Promise<void>
  /** Creates an API token (write access, all repositories the user may write) and returns its secret once. */
  createToken(user: string, label: string): string
  /** Deletes the API token the request authenticated with, if it did (npm logout). */
  revokeCallerToken(request: FastifyRequest): void
  /** A short-lived bearer token (JWT) for the caller, anonymous included, for token-auth protocols (Docker). */
  issueBearer(request: FastifyRequest): Promise<{ token: string; expiresInSeconds: number }>
  /** Counts a failed upload for /metrics. */
  uploadFailed(format: string, reason: string): void
  /** Defaults of remote (proxy) repositories (TTLs, upstream timeout, dispatcher); see formats/core/remote. */
  remote?: RemoteOptions
}

export interface UploadSessionLimits {
  /** A session untouched for this long is gone (its temp file deleted by a sweeper). */
  idleTtlMs: number
  /** Open sessions per user (anonymous callers per address). */
  maxPerUser: number
}

/**
 * What a format's replication hooks (store/replication-hooks.ts) get: the database of its index
 * tables and the pointers. Hooks run inside the applying transaction, with no request.
 */
export interface ReplicationContext {
  db: Db
  pointers: PointerStore
}
