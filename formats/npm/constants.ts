const KiB = 1024
const MiB = 1024 * KiB

/** The repository `format` value and the URL prefix segment. */
export const NPM_FORMAT = 'npm'

/**
 * Bytes of a publish document other than the base64 tarball (manifest, readme, dist-tags…),
 * collected in memory and parsed once the body ends. The tarball itself streams to the store.
 */
export const MAX_PUBLISH_METADATA_BYTES = 16 * MiB

/** Small JSON bodies (login, dist-tag) are read whole up to this size. */
export const MAX_SMALL_BODY_BYTES = 64 * KiB

/** Reading package.json out of a tarball: stop after this many decompressed bytes… */
export const MAX_TARBALL_SCAN_BYTES = 256 * MiB
/** …or after this many tar entries… */
export const MAX_TARBALL_SCAN_ENTRIES = 10_000
/** …and refuse a package.json larger than this. */
export const MAX_PACKAGE_JSON_BYTES = 4 * MiB

/** npm's limit on the length of a package name, scope included. */
export const MAX_NAME_LENGTH = 214

/** Search page size when the client gives none, and the most it may ask for (as the npm registry). */
export const DEFAULT_SEARCH_SIZE = 20
export const MAX_SEARCH_SIZE = 250

/** Media type of the abbreviated ("corgi") packument npm asks for when installing. */
export const ABBREVIATED_MEDIA_TYPE = 'application/vnd.npm.install-v1+json'

/** Fields of a version manifest kept in the abbreviated packument (npm registry API, package-metadata.md). */
export const ABBREVIATED_FIELDS: readonly string[] = [
  'name',
  'version',
  'dependencies',
  'optionalDependencies',
  'devDependencies',
  'bundleDependencies',
  'bundledDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'acceptDependencies',
  'bin',
  'directories',
  'engines',
  'cpu',
  'os',
  'libc',
  'funding',
  'license',
  '_hasShrinkwrap',
  'hasInstallScript',
]

/** Package-level fields copied to the root of the full packument from the `latest` version. */
export const ROOT_FIELDS: readonly string[] = [
  'description',
  'keywords',
  'license',
  'homepage',
  'repository',
  'bugs',
  'author',
  'contributors',
  'readme',
  'readmeFilename',
]

/**
 * A version manifest recorded in its tarball artifact's properties (what another node rebuilds
 * the version from) is at most this long; past it the readme is left out of the copy, and past
 * that only the abbreviated manifest travels.
 */
export const MAX_REPLICATED_MANIFEST_BYTES = 256 * KiB
