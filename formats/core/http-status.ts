/**
 * The HTTP status of every domain error code, shared by the node's JSON API and the formats.
 * A protocol whose clients expect another status for some code spreads this table and
 * overrides those codes (npm answers an immutable version with 403, for example); its body
 * format stays its own. A test pins that every code in store's ERROR_CODES has a row.
 */
export const DEFAULT_HTTP_STATUS: Readonly<Record<string, number>> = {
  AK_BLOB_NOT_FOUND: 404,
  AK_DIGEST_MISMATCH: 400,
  AK_SIZE_MISMATCH: 400,
  AK_BODY_TOO_LARGE: 413,
  AK_CLIENT_ABORTED: 400,
  AK_BODY_TIMEOUT: 408,
  AK_INVALID_PATH: 400,
  AK_INVALID_INPUT: 400,
  AK_MALFORMED_JSON: 400,
  AK_REPOSITORY_NOT_FOUND: 404,
  AK_REPOSITORY_EXISTS: 409,
  AK_ARTIFACT_NOT_FOUND: 404,
  AK_ARTIFACT_IMMUTABLE: 409,
  AK_FORMAT_MISMATCH: 400,
  AK_NOT_IMPLEMENTED: 501,
  AK_USER_NOT_FOUND: 404,
  AK_USER_EXISTS: 409,
  AK_GROUP_NOT_FOUND: 404,
  AK_GROUP_EXISTS: 409,
  AK_TOKEN_NOT_FOUND: 404,
  AK_UNAUTHORIZED: 401,
  AK_FORBIDDEN: 403,
  AK_TOO_MANY_ATTEMPTS: 429,
  AK_NOT_FOUND: 404,
  AK_METHOD_NOT_ALLOWED: 405,
  AK_RANGE_NOT_SATISFIABLE: 416,
  AK_MIGRATION_FAILED: 500,
  AK_DATA_DIR_LOCKED: 500,
  AK_STORAGE_ERROR: 503,
  AK_SHUTTING_DOWN: 503,
  AK_UPSTREAM_UNAVAILABLE: 502,
  AK_UPSTREAM_TIMEOUT: 504,
  AK_UPSTREAM_INVALID: 502,
  AK_UPLOAD_TOO_SLOW: 408,
  // RFC 4918 § 11.5: the server cannot store what the request needs (a full disk, or below the minimum kept free).
  AK_INSUFFICIENT_STORAGE: 507,
}
