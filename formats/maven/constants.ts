import { KiB, MiB } from '../../store/index.ts'

/** The repository `format` value and the first segment of every URL of this format. */
export const MAVEN_FORMAT = 'maven'

/** Name of the generated metadata file at artifact and (SNAPSHOT) version level. */
export const METADATA_FILE = 'maven-metadata.xml'

/** Suffix of a SNAPSHOT base version. */
export const SNAPSHOT_SUFFIX = '-SNAPSHOT'

/** Largest POM we parse: POMs are read whole to check their coordinates before storing. */
export const MAX_POM_BYTES = 2 * MiB

/** Largest maven-metadata.xml a client may PUT (read and discarded: ours is generated). */
export const MAX_CLIENT_METADATA_BYTES = 1 * MiB

/** Largest checksum sidecar body (a sha512 hex digest plus an optional file name). */
export const MAX_CHECKSUM_BODY_BYTES = 4 * KiB

/** Deepest XML nesting accepted in a POM (Maven POMs are shallow; bounds parser recursion). */
export const MAX_POM_NESTING = 128

/** Checksum sidecars served for every file, longest suffix first. */
export const CHECKSUM_ALGORITHMS = ['sha512', 'sha256', 'sha1', 'md5'] as const
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number]

/** Realm sent with 401s; wagon answers a Basic challenge with the <server> credentials. */
export const AUTH_REALM = 'Artifact Keeper'
