import type { Dispatcher } from 'undici'
import type { Artifact, BlobRecord } from '../../../store/index.ts'

/** How a remote read was answered (the X-AK-Cache header). */
export type CacheStatus = 'HIT' | 'MISS' | 'REVALIDATED' | 'STALE'

/** Node-wide defaults of remote repositories (node/config.ts `remote.*`); a repository's settings override the TTLs. */
export interface RemoteOptions {
  /** @default DEFAULT_METADATA_TTL (5 min) */
  metadataTtlMs?: number
  /** @default DEFAULT_NEGATIVE_TTL (30 s) */
  negativeTtlMs?: number
  /** @default DEFAULT_UPSTREAM_TIMEOUT (30 s) */
  timeoutMs?: number
  /** @default DEFAULT_MAX_METADATA_BYTES (64 MiB) */
  maxMetadataBytes?: number
  /** Where upstream requests go. @default an EnvHttpProxyAgent (HTTPS_PROXY, HTTP_PROXY, NO_PROXY honoured) behind the address guard */
  dispatcher?: Dispatcher
  /** Let upstreams reach link-local and cloud metadata addresses (address-policy.ts). @default false */
  allowPrivateAddresses?: boolean
}

/** A remote repository's upstream, from `settings.upstream`. */
export interface Upstream {
  /** Base URL without trailing slash, e.g. `https://registry.npmjs.org`. */
  url: string
  /** `Basic …` when the repository has credentials. */
  authorization: string | undefined
}

/** A mutable document (packument, simple page, index file) to keep fresh at `path`. */
export interface MutableSpec {
  /** Artifact path in the remote repository, e.g. `.remote/lodash/packument.json`. */
  path: string
  /** Absolute upstream URL. */
  url: string
  /** Accept header sent upstream. */
  accept?: string
  /** Extra request headers; an `authorization` here (an OCI bearer token) replaces the upstream's Basic credentials. */
  headers?: Record<string, string>
  /** Throws (any error; it becomes UpstreamInvalidError) when the body is unusable; nothing is stored then. */
  validate?(body: Buffer, contentType: string): void
}

export interface MutableResult {
  artifact: Artifact
  blob: BlobRecord
  cache: CacheStatus
  /** The stored Content-Type (upstream's), or undefined. */
  contentType: string | undefined
  /** The bytes, read from the store at most once (bounded by maxMetadataBytes). */
  body(): Promise<Buffer>
}

/** An immutable file (tarball, wheel, jar, blob by digest) cached for good at `path`. */
export interface ImmutableSpec {
  path: string
  url: string
  /** Content-Type to store and serve; upstream's when absent. */
  contentType?: string
  /** Digests the format knows from metadata (npm shasum, PyPI #sha256=…): a mismatch stores nothing. */
  expected?: { sha256?: string; sha1?: string; md5?: string; sha512?: string }
  /** Extra properties recorded on the artifact beside the remote ones. */
  properties?: Record<string, unknown>
  /** Extra request headers (Accept, an OCI bearer token); an `authorization` here replaces the upstream's Basic credentials. */
  headers?: Record<string, string>
  /** Largest body accepted, below the repository's upload limit (OCI manifests: 4 MiB). @default the upload limit */
  maxBytes?: number
}
