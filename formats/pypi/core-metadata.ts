import { InvalidInputError } from '../../store/index.ts'

/**
 * The core metadata file (wheel METADATA, sdist PKG-INFO): RFC 822-style headers, then an
 * optional body (the description). https://packaging.python.org/en/latest/specifications/core-metadata/
 */
export interface CoreMetadata {
  metadataVersion: string
  name: string
  version: string
  requiresPython: string | undefined
  summary: string | undefined
  /** Every header, lower-case keys, in order of appearance. */
  headers: Map<string, string[]>
}

/** Parses core metadata bytes; throws InvalidInputError when Metadata-Version, Name or Version is missing. */
export function parseCoreMetadata(bytes: Buffer, what: string): CoreMetadata {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes)
  const headers = new Map<string, string[]>()
  let last: { key: string; index: number } | undefined
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break // end of the header section; the rest is the description
    if (/^[ \t]/.test(line)) {
      // A continuation of the previous header (folded line).
      if (!last) throw new InvalidInputError(`${what}: a continuation line before the first header`)
      const values = headers.get(last.key) as string[]
      values[last.index] = `${values[last.index]}\n${line.trim()}`
      continue
    }
    const colon = line.indexOf(':')
    if (colon <= 0) throw new InvalidInputError(`${what}: malformed header line '${line.slice(0, 80)}'`)
    const key = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    const values = headers.get(key) ?? []
    values.push(value)
    headers.set(key, values)
    last = { key, index: values.length - 1 }
  }
  const one = (key: string): string | undefined => headers.get(key)?.[0]
  const metadataVersion = one('metadata-version')
  const name = one('name')
  const version = one('version')
  if (!metadataVersion) throw new InvalidInputError(`${what}: no Metadata-Version`)
  if (!name) throw new InvalidInputError(`${what}: no Name`)
  if (!version) throw new InvalidInputError(`${what}: no Version`)
  const requiresPython = one('requires-python')
  return {
    metadataVersion,
    name,
    version,
    requiresPython: requiresPython === '' ? undefined : requiresPython,
    summary: one('summary'),
    headers,
  }
}
