import { SIMPLE_API_VERSION } from './constants.ts'
import { coreMetadataKeys, escapeHtml, type IndexFile, type SimpleFormat } from './simple-index.ts'

/**
 * Project pages of an upstream simple index (PEP 503 HTML or PEP 691 JSON) as remote
 * repositories read them: parsed into one model, merged with local members, and rendered back
 * in the format the client negotiated, every file URL pointing at this node. Hash fragments,
 * PEP 658/714 core metadata, PEP 592 yanks, requires-python and other data-* attributes survive.
 */

export interface SimpleFile {
  filename: string
  /** Absolute upstream URL (no fragment) when parsed; relative to the page when rendered. */
  url: string
  /** Algorithm → hex digest (the `#sha256=…` fragment, PEP 691 `hashes`). */
  hashes: Record<string, string>
  requiresPython?: string
  /** PEP 658/714: false (none), true (present, hash unknown) or its hashes. */
  coreMetadata?: boolean | Record<string, string>
  /** PEP 592: true or the reason. */
  yanked?: boolean | string
  size?: number
  /** PEP 700, ISO 8601. */
  uploadTime?: string
  gpgSig?: boolean
  /** Other data-* attributes of an HTML anchor, kept as they came. */
  extraData?: Record<string, string>
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" }

function unescapeHtml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, e: string) => {
    const lower = e.toLowerCase()
    if (lower.startsWith('#x')) return String.fromCodePoint(Number.parseInt(lower.slice(2), 16))
    if (lower.startsWith('#')) return String.fromCodePoint(Number.parseInt(lower.slice(1), 10))
    return ENTITIES[lower] ?? whole
  })
}

/** `sha256=abc` (or `true`) → hashes, as data-core-metadata / data-dist-info-metadata carry them. */
function metadataAttr(v: string): boolean | Record<string, string> {
  const m = /^([a-z0-9]+)=([a-f0-9]+)$/i.exec(v.trim())
  if (m) return { [(m[1] as string).toLowerCase()]: (m[2] as string).toLowerCase() }
  return v.trim().toLowerCase() !== 'false'
}

function splitFragment(href: string, base: string): { url: string; hashes: Record<string, string> } {
  const abs = new URL(href, base)
  const hashes: Record<string, string> = {}
  const m = /^([a-z0-9]+)=([a-f0-9]+)$/i.exec(abs.hash.slice(1))
  if (m) hashes[(m[1] as string).toLowerCase()] = (m[2] as string).toLowerCase()
  abs.hash = ''
  return { url: abs.toString(), hashes }
}

function basename(url: string): string {
  const path = new URL(url).pathname
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1))
}

/** Parses a PEP 503 HTML project page; `pageUrl` resolves relative links. */
export function parseHtmlPage(html: string, pageUrl: string): SimpleFile[] {
  const files: SimpleFile[] = []
  for (const m of html.matchAll(/<a\s([^>]*)>([\s\S]*?)<\/a\s*>/gi)) {
    const attrs: Record<string, string> = {}
    for (const a of (m[1] as string).matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
      attrs[(a[1] as string).toLowerCase()] = unescapeHtml(a[2] ?? a[3] ?? a[4] ?? '')
    }
    if (!attrs.href) continue
    const { url, hashes } = splitFragment(attrs.href, pageUrl)
    const text = unescapeHtml((m[2] as string).replace(/<[^>]*>/g, '')).trim()
    const f: SimpleFile = { filename: text || basename(url), url, hashes }
    const extra: Record<string, string> = {}
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'data-requires-python') f.requiresPython = v
      else if (k === 'data-core-metadata' || (k === 'data-dist-info-metadata' && f.coreMetadata === undefined)) f.coreMetadata = metadataAttr(v)
      else if (k === 'data-yanked') f.yanked = v === '' ? true : v
      else if (k === 'data-gpg-sig') f.gpgSig = v === 'true'
      else if (k.startsWith('data-') && k !== 'data-dist-info-metadata') extra[k] = v
    }
    if (Object.keys(extra).length > 0) f.extraData = extra
    files.push(f)
  }
  return files
}

/** Parses a PEP 691 JSON project page; throws when it is not one. */
export function parseJsonPage(text: string, pageUrl: string): SimpleFile[] {
  const doc = JSON.parse(text) as { files?: unknown }
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.files)) throw new Error('not a PEP 691 project page (no files array)')
  const files: SimpleFile[] = []
  for (const raw of doc.files as Record<string, unknown>[]) {
    if (typeof raw !== 'object' || raw === null || typeof raw.url !== 'string' || typeof raw.filename !== 'string') continue
    const { url, hashes: fragment } = splitFragment(raw.url, pageUrl)
    const hashes: Record<string, string> = { ...fragment }
    if (raw.hashes && typeof raw.hashes === 'object') {
      for (const [k, v] of Object.entries(raw.hashes as Record<string, unknown>)) if (typeof v === 'string') hashes[k.toLowerCase()] = v.toLowerCase()
    }
    const f: SimpleFile = { filename: raw.filename, url, hashes }
    if (typeof raw['requires-python'] === 'string') f.requiresPython = raw['requires-python']
    const cm = raw['core-metadata'] ?? raw['dist-info-metadata']
    if (cm !== undefined) f.coreMetadata = typeof cm === 'object' && cm !== null ? (cm as Record<string, string>) : cm === true
    if (raw.yanked !== undefined && raw.yanked !== false) f.yanked = typeof raw.yanked === 'string' ? raw.yanked : true
    if (typeof raw.size === 'number') f.size = raw.size
    if (typeof raw['upload-time'] === 'string') f.uploadTime = raw['upload-time']
    if (raw['gpg-sig'] === true) f.gpgSig = true
    files.push(f)
  }
  return files
}

/** Parses an upstream page by its Content-Type (PEP 691 JSON, else HTML). */
export function parseProjectPage(body: string, contentType: string | undefined, pageUrl: string): SimpleFile[] {
  return /json/i.test(contentType ?? '') ? parseJsonPage(body, pageUrl) : parseHtmlPage(body, pageUrl)
}

/** A local member's file in the page model. */
export function fromIndexFile(f: IndexFile): SimpleFile {
  return {
    filename: f.filename,
    url: f.url,
    hashes: { sha256: f.sha256 },
    ...(f.requiresPython ? { requiresPython: f.requiresPython } : {}),
    coreMetadata: f.metadataSha256 ? { sha256: f.metadataSha256 } : false,
    size: f.size,
    uploadTime: new Date(f.uploadTime).toISOString(),
  }
}

const HASH_ORDER = ['sha256', 'sha384', 'sha512', 'sha224', 'sha1', 'md5']

function fragment(hashes: Record<string, string>): string {
  const alg = HASH_ORDER.find((a) => hashes[a]) ?? Object.keys(hashes)[0]
  return alg ? `#${alg}=${hashes[alg]}` : ''
}

function metadataValue(cm: boolean | Record<string, string>): string {
  if (typeof cm === 'boolean') return String(cm)
  const alg = HASH_ORDER.find((a) => cm[a]) ?? Object.keys(cm)[0]
  return alg ? `${alg}=${cm[alg]}` : 'true'
}

/** Renders a merged project page; `files` URLs are already the ones to serve. */
export function renderMergedPage(project: string, files: SimpleFile[], format: SimpleFormat): string {
  if (format === 'json') {
    return JSON.stringify({
      meta: { 'api-version': SIMPLE_API_VERSION },
      name: project,
      files: files.map((f) => ({
        filename: f.filename,
        url: f.url,
        hashes: f.hashes,
        ...(f.requiresPython ? { 'requires-python': f.requiresPython } : {}),
        // An upstream's dist-info-metadata was read into coreMetadata; it goes out as core-metadata only.
        ...coreMetadataKeys(f.coreMetadata || undefined),
        ...(f.gpgSig !== undefined ? { 'gpg-sig': f.gpgSig } : {}),
        yanked: f.yanked ?? false,
        ...(f.size !== undefined ? { size: f.size } : {}),
        ...(f.uploadTime ? { 'upload-time': f.uploadTime } : {}),
      })),
    })
  }
  let html =
    '<!DOCTYPE html>\n<html>\n  <head>\n' +
    `    <meta name="pypi:repository-version" content="${SIMPLE_API_VERSION}">\n` +
    `    <title>Links for ${escapeHtml(project)}</title>\n  </head>\n  <body>\n    <h1>Links for ${escapeHtml(project)}</h1>\n`
  for (const f of files) {
    let attrs = `href="${escapeHtml(`${f.url}${fragment(f.hashes)}`)}"`
    if (f.requiresPython) attrs += ` data-requires-python="${escapeHtml(f.requiresPython)}"`
    if (f.coreMetadata) {
      const v = escapeHtml(metadataValue(f.coreMetadata))
      attrs += ` data-core-metadata="${v}" data-dist-info-metadata="${v}"`
    }
    if (f.yanked) attrs += ` data-yanked="${escapeHtml(typeof f.yanked === 'string' ? f.yanked : '')}"`
    if (f.gpgSig !== undefined) attrs += ` data-gpg-sig="${f.gpgSig}"`
    for (const [k, v] of Object.entries(f.extraData ?? {})) attrs += ` ${k}="${escapeHtml(v)}"`
    html += `    <a ${attrs}>${escapeHtml(f.filename)}</a><br/>\n`
  }
  return `${html}  </body>\n</html>\n`
}
