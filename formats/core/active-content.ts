import type { Repository } from '../../store/index.ts'

/*
 * Stored and proxied files are served from the node's own origin, so a file a browser renders as
 * a document (HTML, SVG, XML…) would run its script with the node's cookies and permissions: a
 * stored XSS for anyone who may upload (issue 11 part 4). Every artifact response therefore
 * carries these headers, and types a browser would render as active content are sent as an
 * opaque download unless the repository opts in (settings.serveActiveContent).
 */

/**
 * Content-Security-Policy of every artifact response: `sandbox` (without allow-scripts) gives a
 * rendered document an opaque origin with no script, forms or plugins, and `default-src 'none'`
 * lets it load nothing. Clients that are not browsers ignore it.
 * https://www.w3.org/TR/CSP3/#directive-sandbox
 */
export const ARTIFACT_CSP = "sandbox; default-src 'none'"

/** What a neutralised file is sent as: bytes to save, never to render. */
export const OPAQUE_CONTENT_TYPE = 'application/octet-stream'

/**
 * Essences a browser renders as a document that can run script or load other documents: the
 * HTML and XML MIME types of the MIME Sniffing standard (§4.6: text/html, text/xml,
 * application/xml, any `+xml` subtype such as image/svg+xml and application/xhtml+xml), XSLT,
 * and multipart/x-mixed-replace (each part is rendered as its own type).
 */
const ACTIVE_ESSENCES: ReadonlySet<string> = new Set([
  'text/html',
  'text/xml',
  'application/xml',
  'text/xsl',
  'multipart/x-mixed-replace',
  'application/x-shockwave-flash',
])

/**
 * Essences that make a browser sniff the content even with `nosniff` (MIME Sniffing §7.1 step 1:
 * an undefined type, unknown/unknown, application/unknown, *\/*), so they are as good as HTML.
 */
const SNIFFED_ESSENCES: ReadonlySet<string> = new Set(['unknown/unknown', 'application/unknown', '*/*'])

/** type "/" subtype, each an RFC 9110 token. */
const ESSENCE = /^[a-z0-9!#$%&'*+.^_`|~-]+\/[a-z0-9!#$%&'*+.^_`|~-]+$/

export type ContentTypeKind = 'passive' | 'active' | 'unknown'

/**
 * How a browser would treat a Content-Type: `active` when it renders it as a document that may
 * run script, `unknown` when it would sniff it (missing, unparseable, or a wildcard type), else
 * `passive` (shown as text, an image, or downloaded).
 */
export function contentTypeKind(contentType: string | null | undefined): ContentTypeKind {
  if (typeof contentType !== 'string') return 'unknown'
  const essence = (contentType.split(';', 1)[0] ?? '').trim().toLowerCase()
  if (!ESSENCE.test(essence) || SNIFFED_ESSENCES.has(essence)) return 'unknown'
  if (ACTIVE_ESSENCES.has(essence) || essence.endsWith('+xml')) return 'active'
  return 'passive'
}

/** Whether `repo` serves active content types as themselves (settings.serveActiveContent, off by default). */
export function servesActiveContent(repo: Repository): boolean {
  return repo.settings.serveActiveContent === true
}

/**
 * The headers of an artifact response for its stored `contentType`: always `nosniff` and the
 * sandboxing CSP; the type itself when it is passive (or active and `serveActiveContent`), else
 * application/octet-stream with `Content-Disposition: attachment`. A type browsers would sniff
 * is never served as itself, opted in or not.
 */
export function artifactHeaders(contentType: string | null | undefined, serveActiveContent = false): Record<string, string> {
  const kind = contentTypeKind(contentType)
  const safe = { 'x-content-type-options': 'nosniff', 'content-security-policy': ARTIFACT_CSP }
  if (kind === 'passive' || (kind === 'active' && serveActiveContent)) return { ...safe, 'content-type': contentType as string }
  return { ...safe, 'content-type': OPAQUE_CONTENT_TYPE, 'content-disposition': 'attachment' }
}
