export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB
export const SECOND = 1000
export const MINUTE = 60 * SECOND
export const HOUR = 60 * MINUTE

/** Size of one chunk of a blob's chunk manifest. Fixed across the mesh: peers compare manifests. */
export const CHUNK_SIZE = 1 * MiB
/** Bytes of one sha256 digest in a chunk manifest. */
export const CHUNK_DIGEST_BYTES = 32
/** Read and write buffer for blob files. Large enough that syscalls don't dominate a 1 GiB transfer. */
export const BLOB_IO_BUFFER = 1 * MiB
/** Unreferenced blobs younger than this are never collected: an upload may be about to reference them. */
export const DEFAULT_GC_GRACE = 1 * HOUR
/** Longest artifact path, in bytes once decoded. */
export const MAX_PATH_LENGTH = 1024
/** Longest single path segment. */
export const MAX_SEGMENT_LENGTH = 255
/** How long a writer waits for SQLite's lock before failing. */
export const SQLITE_BUSY_TIMEOUT = 10 * SECOND
/**
 * WAL pages after which a commit checkpoints them into the database file (SQLite's default: 1000).
 * Replication applies thousands of events per commit, each touching random b-tree pages (blobs,
 * remote_blobs, artifacts_by_blob): with the default every such commit checkpointed (two more
 * fsyncs, every page written twice). Durability is the WAL's, so unchanged.
 */
export const SQLITE_WAL_AUTOCHECKPOINT_PAGES = 16_384
/** S3 multipart part size. */
export const DEFAULT_S3_PART_SIZE = 16 * MiB
/** S3 parts uploaded at once per blob. */
export const DEFAULT_S3_QUEUE_SIZE = 4
