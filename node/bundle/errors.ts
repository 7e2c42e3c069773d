/**
 * A bundle refused by `ak import` or an export that cannot be written. These never reach HTTP
 * (the commands run against a data directory), so they are not store error codes; the CLI prints
 * the message and exits 1.
 */
export class BundleError extends Error {
  override readonly name = 'BundleError'
  constructor(
    /** Stable reason: AK_BUNDLE_TRUNCATED, AK_BUNDLE_MALFORMED, AK_BUNDLE_SIGNATURE, AK_BUNDLE_UNTRUSTED, AK_BUNDLE_DIGEST, AK_BUNDLE_EVENT, AK_BUNDLE_GAP, AK_BUNDLE_EXPORT. */
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}
