/** Limits and names of the PyPI format. Sizes in bytes. */

const KiB = 1024
const MiB = 1024 * KiB

export const PYPI_FORMAT = 'pypi'

/** PEP 691 / PEP 700 API version announced in both serialisations. */
export const SIMPLE_API_VERSION = '1.1'

export const SIMPLE_JSON = 'application/vnd.pypi.simple.v1+json'
export const SIMPLE_HTML = 'application/vnd.pypi.simple.v1+html'
export const TEXT_HTML = 'text/html'

/** Largest core-metadata file (wheel METADATA, sdist PKG-INFO) we extract, declared or actual. */
export const MAX_CORE_METADATA_BYTES = 1 * MiB

/** Most entries a wheel's central directory may list. */
export const MAX_WHEEL_ENTRIES = 100_000

/** The tail of a wheel read into memory at once: EOCD search window plus the central directory. */
export const MAX_CENTRAL_DIRECTORY_BYTES = 32 * MiB

/** Decompressed bytes of an sdist read while looking for PKG-INFO before we give up (gzip bombs). */
export const MAX_SDIST_SCAN_BYTES = 256 * MiB

/** Tar entries of an sdist read while looking for PKG-INFO. */
export const MAX_SDIST_ENTRIES = 100_000

/** Largest single form field of an upload (long_description is the big one). */
export const MAX_FORM_FIELD_BYTES = 4 * MiB

/** Most form fields of an upload (classifiers repeat). */
export const MAX_FORM_FIELDS = 2_000

/** Multipart bytes allowed beyond the file itself when checking Content-Length up front. */
export const MAX_FORM_OVERHEAD_BYTES = 16 * MiB

/** Side files twine may send (gpg_signature, attestations): bounded, then ignored. */
export const MAX_SIDE_FILE_BYTES = 1 * MiB

/** Realm in the WWW-Authenticate challenge, so pip and twine send Basic credentials. */
export const AUTH_REALM = 'Artifact Keeper PyPI'

/** Content-Security-Policy of the simple index pages: nothing may load or run in them (no sandbox, so links work). */
export const SIMPLE_INDEX_CSP = "default-src 'none'"
