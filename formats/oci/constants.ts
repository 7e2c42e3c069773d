import { HOUR, MiB, MINUTE } from '../../store/index.ts'

/** The repository `format` value. */
export const OCI_FORMAT = 'oci'

// Media types (OCI image-spec media-types.md; Docker image manifest v2 schema 2).
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
/** Manifests with these media types describe one image (config + layers). */
export const IMAGE_MANIFEST_TYPES: readonly string[] = [OCI_MANIFEST, DOCKER_MANIFEST]
/** Manifests with these media types list other manifests (multi-arch). */
export const INDEX_MANIFEST_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST]
/** Layers a registry need not hold: they carry `urls` to fetch them elsewhere. */
export const FOREIGN_LAYER_TYPES: readonly string[] = [
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]

/**
 * Largest manifest accepted on PUT. Manifests are read whole (they must be parsed and their
 * references checked), so they are bounded; 4 MiB is what Distribution and the spec suggest.
 */
export const MAX_MANIFEST_BYTES = 4 * MiB
/** An upload session untouched for this long is dropped with its temp file (AK_UPLOAD_SESSION_TTL_S). */
export const UPLOAD_IDLE_TTL = 1 * HOUR
/** Expired upload sessions are swept at least this often (more often when the TTL is short). */
export const UPLOAD_SWEEP_INTERVAL = 1 * MINUTE
/** Upload sessions one user may have open at once (AK_MAX_UPLOAD_SESSIONS). */
export const MAX_UPLOAD_SESSIONS = 64
/** Page size of tags list and catalog when the client asks for none. */
export const DEFAULT_PAGE_SIZE = 1000
/** Largest page a client may ask for with ?n=. */
export const MAX_PAGE_SIZE = 10_000
/** Sub-directory of the node's temp dir that holds uploads in progress. */
export const UPLOADS_DIR = 'oci-uploads'

/** Artifact path prefix of layers and configs (once per repository). */
export const BLOBS_PREFIX = '_blobs/sha256'
/**
 * A manifest's annotations are copied into its artifact's properties (what another node of the
 * mesh rebuilds its index row from) when their JSON is at most this long; larger ones stay local.
 */
export const MAX_REPLICATED_ANNOTATIONS_BYTES = 16 * 1024
