export type { FormatContext, ReplicationContext, UploadSessionLimits } from './context.ts'
export { streamRawBodies, contentLength, expectedDigests, mustCloseConnection, DRAIN_MAX_BYTES } from './streaming.ts'
export { sendBlob, parseRange, checksumHeaders, etagMatches, notModified, type ServedFile } from './serve-blob.ts'
export {
  artifactHeaders,
  contentTypeKind,
  servesActiveContent,
  ARTIFACT_CSP,
  OPAQUE_CONTENT_TYPE,
  type ContentTypeKind,
} from './active-content.ts'
export { readOrder, deployTarget } from './virtual.ts'
export { deferContinue, sendContinue, awaitingContinue } from './expect-continue.ts'
export { DEFAULT_HTTP_STATUS } from './http-status.ts'
export { propertyText } from './properties.ts'
export { findTarGzEntry, type TarGzEntryOptions } from './tar-gz.ts'
export { resolveRepository, findRepository, requireSignedInOrPublic, privateStandIn, type RepositoryErrors } from './repository.ts'
export {
  remoteEngine,
  cacheHeaders,
  isMissingBytes,
  REMOTE_METADATA_DIR,
  DEFAULT_MAX_METADATA_BYTES,
  DEFAULT_METADATA_TTL,
  DEFAULT_NEGATIVE_TTL,
  DEFAULT_UPSTREAM_TIMEOUT,
  CACHE_STATUS_HEADER,
  STALE_WARNING,
  createRemoteEngine,
  upstreamOf,
  checkUpstreamUrl,
  type AddressPolicy,
  NegativeCache,
  StoreAndClientTee,
  type RemoteEngine,
  type RemoteOptions,
  type CacheStatus,
  type MutableResult,
  type ImmutableSpec,
} from './remote/index.ts'
