import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AkError, ERROR_CODES, toDomainError } from '../../store/index.ts'
import { mustCloseConnection } from '../core/index.ts'

/**
 * Domain errors of the OCI format, beside the store's AkErrors. Each has a stable code and no
 * HTTP status; WIRE_ERRORS below is the one table that maps every code to the wire.
 */
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

export const BlobUnknownError = define('OCI_BLOB_UNKNOWN', 'BlobUnknownError')
export const BlobUploadInvalidError = define('OCI_BLOB_UPLOAD_INVALID', 'BlobUploadInvalidError')
export const BlobUploadUnknownError = define('OCI_BLOB_UPLOAD_UNKNOWN', 'BlobUploadUnknownError')
/** A chunk whose Content-Range does not start where the upload ends. details: {size, location, uuid}. */
export const UploadOutOfOrderError = define('OCI_UPLOAD_OUT_OF_ORDER', 'UploadOutOfOrderError')
export const DigestInvalidError = define('OCI_DIGEST_INVALID', 'DigestInvalidError')
export const ManifestBlobUnknownError = define('OCI_MANIFEST_BLOB_UNKNOWN', 'ManifestBlobUnknownError')
export const ManifestInvalidError = define('OCI_MANIFEST_INVALID', 'ManifestInvalidError')
export const ManifestTooLargeError = define('OCI_MANIFEST_TOO_LARGE', 'ManifestTooLargeError')
export const ManifestUnknownError = define('OCI_MANIFEST_UNKNOWN', 'ManifestUnknownError')
export const NameInvalidError = define('OCI_NAME_INVALID', 'NameInvalidError')
export const NameUnknownError = define('OCI_NAME_UNKNOWN', 'NameUnknownError')
export const SizeInvalidError = define('OCI_SIZE_INVALID', 'SizeInvalidError')
export const UnsupportedError = define('OCI_UNSUPPORTED', 'UnsupportedError')
export const PaginationInvalidError = define('OCI_PAGINATION_INVALID', 'PaginationInvalidError')
/** A tag of a repository with settings.immutable may not move to another digest. */
export const TagImmutableError = define('OCI_TAG_IMMUTABLE', 'TagImmutableError')
/** The caller has as many upload sessions open as one user may (AK_MAX_UPLOAD_SESSIONS). */
export const TooManyUploadsError = define('OCI_TOO_MANY_UPLOADS', 'TooManyUploadsError')

export const OCI_ERROR_CODES: readonly string[] = [
  BlobUnknownError, BlobUploadInvalidError, BlobUploadUnknownError, UploadOutOfOrderError, DigestInvalidError,
  ManifestBlobUnknownError, ManifestInvalidError, ManifestTooLargeError, ManifestUnknownError, NameInvalidError,
  NameUnknownError, SizeInvalidError, UnsupportedError, PaginationInvalidError, TagImmutableError, TooManyUploadsError,
].map((c) => c.code)

/** The error codes of the distribution spec (§ Error Codes) plus UNKNOWN for our own failures. */
export type OciWireCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'UNKNOWN'

/**
 * The one table: every domain error code (the store's and ours) → HTTP status and OCI error
 * code. Bodies are {errors: [{code, message, detail}]} (distribution-spec § Error Codes).
 * A unit test pins that every code has a row.
 */
export const WIRE_ERRORS: Record<string, { status: number; code: OciWireCode }> = {
  // Ours.
  OCI_BLOB_UNKNOWN: { status: 404, code: 'BLOB_UNKNOWN' },
  OCI_BLOB_UPLOAD_INVALID: { status: 400, code: 'BLOB_UPLOAD_INVALID' },
  OCI_BLOB_UPLOAD_UNKNOWN: { status: 404, code: 'BLOB_UPLOAD_UNKNOWN' },
  OCI_UPLOAD_OUT_OF_ORDER: { status: 416, code: 'BLOB_UPLOAD_INVALID' },
  OCI_DIGEST_INVALID: { status: 400, code: 'DIGEST_INVALID' },
  OCI_MANIFEST_BLOB_UNKNOWN: { status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
  OCI_MANIFEST_INVALID: { status: 400, code: 'MANIFEST_INVALID' },
  OCI_MANIFEST_TOO_LARGE: { status: 413, code: 'SIZE_INVALID' },
  OCI_MANIFEST_UNKNOWN: { status: 404, code: 'MANIFEST_UNKNOWN' },
  OCI_NAME_INVALID: { status: 400, code: 'NAME_INVALID' },
  OCI_NAME_UNKNOWN: { status: 404, code: 'NAME_UNKNOWN' },
  OCI_SIZE_INVALID: { status: 400, code: 'SIZE_INVALID' },
  OCI_UNSUPPORTED: { status: 405, code: 'UNSUPPORTED' },
  OCI_PAGINATION_INVALID: { status: 400, code: 'UNSUPPORTED' },
  OCI_TAG_IMMUTABLE: { status: 409, code: 'DENIED' },
  OCI_TOO_MANY_UPLOADS: { status: 429, code: 'TOOMANYREQUESTS' },
  // The store's and the node's.
  AK_BLOB_NOT_FOUND: { status: 404, code: 'BLOB_UNKNOWN' },
  AK_DIGEST_MISMATCH: { status: 400, code: 'DIGEST_INVALID' },
  AK_SIZE_MISMATCH: { status: 400, code: 'SIZE_INVALID' },
  AK_BODY_TOO_LARGE: { status: 413, code: 'SIZE_INVALID' },
  AK_CLIENT_ABORTED: { status: 400, code: 'BLOB_UPLOAD_INVALID' },
  AK_BODY_TIMEOUT: { status: 408, code: 'BLOB_UPLOAD_INVALID' },
  AK_INVALID_PATH: { status: 400, code: 'NAME_INVALID' },
  AK_INVALID_INPUT: { status: 400, code: 'UNSUPPORTED' },
  AK_MALFORMED_JSON: { status: 400, code: 'MANIFEST_INVALID' },
  AK_REPOSITORY_NOT_FOUND: { status: 404, code: 'NAME_UNKNOWN' },
  AK_REPOSITORY_EXISTS: { status: 409, code: 'DENIED' },
  AK_ARTIFACT_NOT_FOUND: { status: 404, code: 'BLOB_UNKNOWN' },
  AK_ARTIFACT_IMMUTABLE: { status: 409, code: 'DENIED' },
  AK_FORMAT_MISMATCH: { status: 404, code: 'NAME_UNKNOWN' },
  AK_NOT_IMPLEMENTED: { status: 405, code: 'UNSUPPORTED' },
  AK_USER_NOT_FOUND: { status: 404, code: 'NAME_UNKNOWN' },
  AK_USER_EXISTS: { status: 409, code: 'DENIED' },
  AK_GROUP_NOT_FOUND: { status: 404, code: 'NAME_UNKNOWN' },
  AK_GROUP_EXISTS: { status: 409, code: 'DENIED' },
  AK_TOKEN_NOT_FOUND: { status: 401, code: 'UNAUTHORIZED' },
  AK_UNAUTHORIZED: { status: 401, code: 'UNAUTHORIZED' },
  AK_FORBIDDEN: { status: 403, code: 'DENIED' },
  AK_TOO_MANY_ATTEMPTS: { status: 429, code: 'TOOMANYREQUESTS' },
  AK_NOT_FOUND: { status: 404, code: 'NAME_UNKNOWN' },
  AK_METHOD_NOT_ALLOWED: { status: 405, code: 'UNSUPPORTED' },
  AK_RANGE_NOT_SATISFIABLE: { status: 416, code: 'SIZE_INVALID' },
  AK_MIGRATION_FAILED: { status: 500, code: 'UNKNOWN' },
  AK_DATA_DIR_LOCKED: { status: 500, code: 'UNKNOWN' },
  AK_STORAGE_ERROR: { status: 503, code: 'UNKNOWN' },
  AK_SHUTTING_DOWN: { status: 503, code: 'UNKNOWN' },
  AK_UPSTREAM_UNAVAILABLE: { status: 502, code: 'UNKNOWN' },
  AK_UPSTREAM_TIMEOUT: { status: 504, code: 'UNKNOWN' },
  AK_UPSTREAM_INVALID: { status: 502, code: 'UNKNOWN' },
  AK_UPLOAD_TOO_SLOW: { status: 408, code: 'BLOB_UPLOAD_INVALID' },
  // The spec has no code for a full registry; 507 says what it is (RFC 4918 § 11.5).
  AK_INSUFFICIENT_STORAGE: { status: 507, code: 'UNKNOWN' },
}

/** Fastify's own errors that are the client's fault. */
const FASTIFY_ERRORS: Record<string, { status: number; code: OciWireCode }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'SIZE_INVALID' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'SIZE_INVALID' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED' },
  FST_ERR_VALIDATION: { status: 400, code: 'UNSUPPORTED' },
}

export interface OciWireError {
  status: number
  body: { errors: { code: OciWireCode; message: string; detail?: unknown }[] }
}

/** Every code this table must cover: the store's and ours (the unit test checks it). */
export const ALL_DOMAIN_CODES: readonly string[] = [...ERROR_CODES, ...OCI_ERROR_CODES]

export function toOciError(failure: unknown): OciWireError {
  const err = toDomainError(failure)
  if (err instanceof AkError) {
    const row = WIRE_ERRORS[err.code] ?? { status: 500, code: 'UNKNOWN' as const }
    const detail = err.details ? publicDetail(err.details) : undefined
    return { status: row.status, body: { errors: [{ code: row.code, message: err.message, ...(detail ? { detail } : {}) }] } }
  }
  const fe = err as FastifyError
  const mapped = fe?.code ? FASTIFY_ERRORS[fe.code] : undefined
  if (mapped) return { status: mapped.status, body: { errors: [{ code: mapped.code, message: fe.message }] } }
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { errors: [{ code: 'UNSUPPORTED', message: fe.message }] } }
  }
  return { status: 500, body: { errors: [{ code: 'UNKNOWN', message: 'internal error; see the node log' }] } }
}

/** Details that are only for headers (Location of an upload) stay off the body. */
function publicDetail(details: Record<string, unknown>): Record<string, unknown> | undefined {
  const { location: _location, uuid: _uuid, ...rest } = details
  return Object.keys(rest).length > 0 ? rest : undefined
}

export interface ErrorHandlerInit {
  /** The WWW-Authenticate value for a 401 answer to this request. */
  challenge(request: FastifyRequest): string
}

/** The plugin's one error handler: domain error → OCI JSON error, with the headers each needs. */
export function ociErrorHandler(init: ErrorHandlerInit) {
  return function handle(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    const wire = toOciError(err)
    if (wire.status >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ code: wire.body.errors[0]?.code, msg: wire.body.errors[0]?.message }, 'request refused')
    if (wire.status === 401) reply.header('www-authenticate', init.challenge(request))
    const details = err instanceof AkError ? err.details : undefined
    if (wire.status === 429 && typeof details?.retryAfterSeconds === 'number') {
      reply.header('retry-after', String(details.retryAfterSeconds))
    }
    if (err instanceof AkError && err.code === UploadOutOfOrderError.code && details) {
      // distribution-spec § Pushing a blob in chunks: a 416 carries where the upload stands.
      const size = Number(details.size ?? 0)
      reply.header('range', `0-${Math.max(0, size - 1)}`)
      if (typeof details.location === 'string') reply.header('location', details.location)
      if (typeof details.uuid === 'string') reply.header('docker-upload-uuid', details.uuid)
    }
    // A body still streaming in when we refuse: close after answering, so the rest of it is
    // not parsed as a next request.
    if (mustCloseConnection(request, err)) reply.header('connection', 'close')
    if (reply.sent) return
    reply.code(wire.status).type('application/json').send(wire.body)
  }
}
