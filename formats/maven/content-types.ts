/** Content types by Maven extension; anything else is application/octet-stream. */
const TYPES: Record<string, string> = {
  pom: 'application/xml',
  xml: 'application/xml',
  jar: 'application/java-archive',
  war: 'application/java-archive',
  ear: 'application/java-archive',
  aar: 'application/java-archive',
  zip: 'application/zip',
  'tar.gz': 'application/gzip',
  tgz: 'application/gzip',
  json: 'application/json',
  module: 'application/json',
  asc: 'application/pgp-signature',
  txt: 'text/plain',
}

export function contentTypeOf(extension: string): string {
  const last = extension.endsWith('.asc') ? 'asc' : extension
  return TYPES[last] ?? 'application/octet-stream'
}
