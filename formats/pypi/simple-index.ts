import { SIMPLE_API_VERSION, SIMPLE_HTML, SIMPLE_JSON, TEXT_HTML } from './constants.ts'

/**
 * The simple repository API: PEP 503 (HTML), PEP 691 (JSON), PEP 658/714 (core metadata),
 * PEP 700 (versions, size, upload-time). Pure rendering; the routes gather the files.
 */

/** One distribution file as the index lists it. */
export interface IndexFile {
  filename: string
  /** Relative to the project page. */
  url: string
  sha256: string
  size: number
  uploadTime: number
  version: string
  requiresPython: string | undefined
  /** sha256 of the served `{url}.metadata`, when there is one (wheels). */
  metadataSha256: string | undefined
}

export type SimpleFormat = 'json' | 'html' | 'text-html'

/** The Content-Type sent for each serialisation. */
export const CONTENT_TYPES: Record<SimpleFormat, string> = {
  json: SIMPLE_JSON,
  html: SIMPLE_HTML,
  'text-html': `${TEXT_HTML}; charset=utf-8`,
}

const OFFERS: { type: string; format: SimpleFormat }[] = [
  { type: SIMPLE_JSON, format: 'json' },
  { type: 'application/vnd.pypi.simple.latest+json', format: 'json' },
  { type: SIMPLE_HTML, format: 'html' },
  { type: 'application/vnd.pypi.simple.latest+html', format: 'html' },
  { type: TEXT_HTML, format: 'text-html' },
]

/**
 * PEP 691 content negotiation. The highest q wins; on a tie an exact media type beats a wildcard,
 * and text/html beats v1+html beats JSON (so a bare '*\/*' gets text/html). No Accept header, or one that names nothing
 * we serve, falls back to text/html (PEP 691 permits either that or 406). `formatParam` is the
 * optional `?format=` query parameter, which overrides the header.
 */
export function negotiateSimpleFormat(accept: string | undefined, formatParam?: string): SimpleFormat {
  if (formatParam) {
    // An unencoded '+' in a query string arrives as a space.
    const wanted = formatParam.toLowerCase().replace(/ /g, '+')
    const offer = OFFERS.find((o) => o.type === wanted)
    if (offer) return offer.format
  }
  if (!accept || accept.trim() === '') return 'text-html'
  const ranges = accept.split(',').map((part) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase())
    let q = 1
    for (const p of params) {
      const m = /^q=([0-9.]+)$/.exec(p)
      if (m) q = Math.min(1, Math.max(0, Number(m[1]) || 0))
    }
    return { type, q }
  })
  // On a tie the plainest serialisation wins: text/html, then v1+html, then JSON.
  const preference: Record<SimpleFormat, number> = { 'text-html': 2, html: 1, json: 0 }
  let best: { format: SimpleFormat; q: number; exact: boolean } | undefined
  for (const offer of OFFERS) {
    let match: { q: number; exact: boolean } | undefined
    for (const r of ranges) {
      const [major] = offer.type.split('/')
      const exact = r.type === offer.type
      const wild = r.type === '*/*' || r.type === `${major}/*`
      if (!exact && !wild) continue
      // The most specific range that matches decides this offer's q (RFC 9110 §12.5.1).
      if (!match || (exact && !match.exact)) match = { q: r.q, exact }
    }
    if (!match || match.q <= 0) continue
    const better =
      !best ||
      match.q > best.q ||
      (match.q === best.q && match.exact && !best.exact) ||
      (match.q === best.q && match.exact === best.exact && preference[offer.format] > preference[best.format])
    if (better) best = { format: offer.format, q: match.q, exact: match.exact }
  }
  return best?.format ?? 'text-html'
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string)
}

const HTML_HEAD = (title: string) =>
  '<!DOCTYPE html>\n<html>\n  <head>\n' +
  `    <meta name="pypi:repository-version" content="${SIMPLE_API_VERSION}">\n` +
  `    <title>${escapeHtml(title)}</title>\n  </head>\n  <body>\n`

/** The project list (/simple/): names are normalised, links relative to the page. */
export function renderProjectList(projects: string[], format: SimpleFormat): string {
  if (format === 'json') {
    return JSON.stringify({ meta: { 'api-version': SIMPLE_API_VERSION }, projects: projects.map((name) => ({ name })) })
  }
  let html = HTML_HEAD('Simple index')
  for (const p of projects) html += `    <a href="${escapeHtml(encodeURIComponent(p))}/">${escapeHtml(p)}</a><br/>\n`
  return `${html}  </body>\n</html>\n`
}

/** PEP 700: ISO 8601, UTC, 'Z' suffix, up to six fractional digits. */
function uploadTime(ms: number): string {
  return new Date(ms).toISOString()
}

/**
 * The PEP 691 JSON core-metadata key of a file: `core-metadata` with its hashes when it has a
 * metadata file, and no key at all when it has none, as PyPI does (`false` is valid PEP 691, but
 * Debian 12's pip 23.0.1 fails on it for sdist-only projects, issue 11 part 11). The old
 * `dist-info-metadata` key is never sent in JSON: PEP 714 renamed it because pip versions before
 * 23.1 (Debian 12's 23.0.1 among them) crash on it with a hash dict (`TypeError: unhashable type:
 * 'dict'`); they ignore `core-metadata` and simply download the file. HTML keeps both attributes,
 * which are strings every pip reads.
 */
export function coreMetadataKeys(hashes: Record<string, string> | true | undefined): Record<string, Record<string, string> | true> {
  return hashes === undefined ? {} : { 'core-metadata': hashes }
}

/** One project's page (/simple/{project}/). */
export function renderProjectPage(project: string, files: IndexFile[], format: SimpleFormat): string {
  if (format === 'json') {
    const versions = [...new Set(files.map((f) => f.version))]
    return JSON.stringify({
      meta: { 'api-version': SIMPLE_API_VERSION },
      name: project,
      versions,
      files: files.map((f) => ({
        filename: f.filename,
        url: f.url,
        hashes: { sha256: f.sha256 },
        ...(f.requiresPython ? { 'requires-python': f.requiresPython } : {}),
        ...coreMetadataKeys(f.metadataSha256 ? { sha256: f.metadataSha256 } : undefined),
        size: f.size,
        'upload-time': uploadTime(f.uploadTime),
        yanked: false,
      })),
    })
  }
  let html = HTML_HEAD(`Links for ${project}`) + `    <h1>Links for ${escapeHtml(project)}</h1>\n`
  for (const f of files) {
    let attrs = `href="${escapeHtml(`${f.url}#sha256=${f.sha256}`)}"`
    if (f.requiresPython) attrs += ` data-requires-python="${escapeHtml(f.requiresPython)}"`
    if (f.metadataSha256) {
      attrs += ` data-core-metadata="sha256=${f.metadataSha256}" data-dist-info-metadata="sha256=${f.metadataSha256}"`
    }
    html += `    <a ${attrs}>${escapeHtml(f.filename)}</a><br/>\n`
  }
  return `${html}  </body>\n</html>\n`
}
