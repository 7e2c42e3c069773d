/**
 * Domain errors. Each failure has its own class and a stable `code`; none carries an HTTP
 * status. Every protocol maps codes to its wire format in one table (node/http-errors.ts
 * for the JSON API and the generic format, each format's own error handler for the rest).
 */
export class AkError extends Error {
  readonly code: string
  readonly details: Record<string, unknown> | undefined

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message)
    this.code = code
    this.details = details
  }
}

function define(code: string, name: string) {
  const cls = class extends AkError {
    static readonly code = code
    constructor(message: string, details?: Record<string, unknown>) {
      super(code, message, details)
    }
  }
  Object.defineProperty(cls, 'name', { value: name })
  Object.defineProperty(cls.prototype, 'name', { value: name })
  return cls
}

export const BlobNotFoundError = define('AK_BLOB_NOT_FOUND', 'BlobNotFoundError')
export type BlobNotFoundError = InstanceType<typeof BlobNotFoundError>
export const DigestMismatchError = define('AK_DIGEST_MISMATCH', 'DigestMismatchError')
export type DigestMismatchError = InstanceType<typeof DigestMismatchError>
export const SizeMismatchError = define('AK_SIZE_MISMATCH', 'SizeMismatchError')
export type SizeMismatchError = InstanceType<typeof SizeMismatchError>
export const BodyTooLargeError = define('AK_BODY_TOO_LARGE', 'BodyTooLargeError')
export type BodyTooLargeError = InstanceType<typeof BodyTooLargeError>
export const ClientAbortedError = define('AK_CLIENT_ABORTED', 'ClientAbortedError')
export type ClientAbortedError = InstanceType<typeof ClientAbortedError>
export const BodyTimeoutError = define('AK_BODY_TIMEOUT', 'BodyTimeoutError')
export type BodyTimeoutError = InstanceType<typeof BodyTimeoutError>
/** A client's body arrived slower than the minimum rate over the sliding window (a slow-loris upload). */
export const UploadTooSlowError = define('AK_UPLOAD_TOO_SLOW', 'UploadTooSlowError')
export type UploadTooSlowError = InstanceType<typeof UploadTooSlowError>
/** The data directory's file system is full, or its free space is below the configured minimum. */
export const InsufficientStorageError = define('AK_INSUFFICIENT_STORAGE', 'InsufficientStorageError')
export type InsufficientStorageError = InstanceType<typeof InsufficientStorageError>
export const InvalidPathError = define('AK_INVALID_PATH', 'InvalidPathError')
export type InvalidPathError = InstanceType<typeof InvalidPathError>
export const InvalidInputError = define('AK_INVALID_INPUT', 'InvalidInputError')
export type InvalidInputError = InstanceType<typeof InvalidInputError>
export const MalformedJsonError = define('AK_MALFORMED_JSON', 'MalformedJsonError')
export type MalformedJsonError = InstanceType<typeof MalformedJsonError>
export const RepositoryNotFoundError = define('AK_REPOSITORY_NOT_FOUND', 'RepositoryNotFoundError')
export type RepositoryNotFoundError = InstanceType<typeof RepositoryNotFoundError>
export const RepositoryExistsError = define('AK_REPOSITORY_EXISTS', 'RepositoryExistsError')
export type RepositoryExistsError = InstanceType<typeof RepositoryExistsError>
export const ArtifactNotFoundError = define('AK_ARTIFACT_NOT_FOUND', 'ArtifactNotFoundError')
export type ArtifactNotFoundError = InstanceType<typeof ArtifactNotFoundError>
export const ImmutableArtifactError = define('AK_ARTIFACT_IMMUTABLE', 'ImmutableArtifactError')
export type ImmutableArtifactError = InstanceType<typeof ImmutableArtifactError>
export const FormatMismatchError = define('AK_FORMAT_MISMATCH', 'FormatMismatchError')
export type FormatMismatchError = InstanceType<typeof FormatMismatchError>
export const NotImplementedError = define('AK_NOT_IMPLEMENTED', 'NotImplementedError')
export type NotImplementedError = InstanceType<typeof NotImplementedError>
export const UserNotFoundError = define('AK_USER_NOT_FOUND', 'UserNotFoundError')
export type UserNotFoundError = InstanceType<typeof UserNotFoundError>
export const UserExistsError = define('AK_USER_EXISTS', 'UserExistsError')
export type UserExistsError = InstanceType<typeof UserExistsError>
export const GroupNotFoundError = define('AK_GROUP_NOT_FOUND', 'GroupNotFoundError')
export type GroupNotFoundError = InstanceType<typeof GroupNotFoundError>
export const GroupExistsError = define('AK_GROUP_EXISTS', 'GroupExistsError')
export type GroupExistsError = InstanceType<typeof GroupExistsError>
export const TokenNotFoundError = define('AK_TOKEN_NOT_FOUND', 'TokenNotFoundError')
export type TokenNotFoundError = InstanceType<typeof TokenNotFoundError>
export const UnauthorizedError = define('AK_UNAUTHORIZED', 'UnauthorizedError')
export type UnauthorizedError = InstanceType<typeof UnauthorizedError>
export const ForbiddenError = define('AK_FORBIDDEN', 'ForbiddenError')
export type ForbiddenError = InstanceType<typeof ForbiddenError>
export const TooManyAttemptsError = define('AK_TOO_MANY_ATTEMPTS', 'TooManyAttemptsError')
export type TooManyAttemptsError = InstanceType<typeof TooManyAttemptsError>
export const NotFoundError = define('AK_NOT_FOUND', 'NotFoundError')
export type NotFoundError = InstanceType<typeof NotFoundError>
export const MethodNotAllowedError = define('AK_METHOD_NOT_ALLOWED', 'MethodNotAllowedError')
export type MethodNotAllowedError = InstanceType<typeof MethodNotAllowedError>
export const RangeNotSatisfiableError = define('AK_RANGE_NOT_SATISFIABLE', 'RangeNotSatisfiableError')
export type RangeNotSatisfiableError = InstanceType<typeof RangeNotSatisfiableError>
export const MigrationError = define('AK_MIGRATION_FAILED', 'MigrationError')
export type MigrationError = InstanceType<typeof MigrationError>
export const DataDirLockedError = define('AK_DATA_DIR_LOCKED', 'DataDirLockedError')
export type DataDirLockedError = InstanceType<typeof DataDirLockedError>
export const StorageError = define('AK_STORAGE_ERROR', 'StorageError')
export type StorageError = InstanceType<typeof StorageError>
export const ShuttingDownError = define('AK_SHUTTING_DOWN', 'ShuttingDownError')
export type ShuttingDownError = InstanceType<typeof ShuttingDownError>
/** A remote repository's upstream could not be reached or refused the request (5xx, 401, reset). */
export const UpstreamUnavailableError = define('AK_UPSTREAM_UNAVAILABLE', 'UpstreamUnavailableError')
export type UpstreamUnavailableError = InstanceType<typeof UpstreamUnavailableError>
/** A remote repository's upstream did not answer within the configured timeout. */
export const UpstreamTimeoutError = define('AK_UPSTREAM_TIMEOUT', 'UpstreamTimeoutError')
export type UpstreamTimeoutError = InstanceType<typeof UpstreamTimeoutError>
/** A remote repository's upstream answered something unusable (malformed, oversize, wrong length or digest). */
export const UpstreamInvalidError = define('AK_UPSTREAM_INVALID', 'UpstreamInvalidError')
export type UpstreamInvalidError = InstanceType<typeof UpstreamInvalidError>

/** Every code defined above, for the test that pins each one to a documented wire status. */
export const ERROR_CODES: readonly string[] = [
  BlobNotFoundError, DigestMismatchError, SizeMismatchError, BodyTooLargeError, ClientAbortedError, BodyTimeoutError,
  InvalidPathError, InvalidInputError, MalformedJsonError, RepositoryNotFoundError, RepositoryExistsError,
  ArtifactNotFoundError, ImmutableArtifactError, FormatMismatchError, NotImplementedError, UserNotFoundError,
  UserExistsError, GroupNotFoundError, GroupExistsError, TokenNotFoundError, UnauthorizedError, ForbiddenError,
  TooManyAttemptsError, NotFoundError, MethodNotAllowedError, RangeNotSatisfiableError, MigrationError,
  DataDirLockedError, StorageError, ShuttingDownError, UpstreamUnavailableError, UpstreamTimeoutError,
  UpstreamInvalidError, UploadTooSlowError, InsufficientStorageError,
].map((c) => c.code)

/** Error codes of a full disk or quota: the file system's (errno) and SQLite's. */
const STORAGE_FULL_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL'])

/** Whether `err` (or its cause) says the storage is full. */
export function isStorageFull(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && STORAGE_FULL_CODES.has(code)) return true
  }
  return false
}

/**
 * A platform failure that has a domain meaning, as that domain error (ENOSPC, EDQUOT and
 * SQLITE_FULL → InsufficientStorageError); anything else as it is. Every protocol's error
 * mapping calls it first, so a full disk is 507 wherever it surfaces.
 */
export function toDomainError(err: unknown): unknown {
  if (err instanceof AkError || !isStorageFull(err)) return err
  return new InsufficientStorageError(`insufficient storage: ${(err as Error).message}`)
}

export function isAkError(err: unknown): err is AkError {
  return err instanceof AkError
}
