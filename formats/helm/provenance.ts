import { parse } from 'yaml'
import { MAX_YAML_ALIASES } from './constants.ts'

/**
 * Provenance files (Helm docs, "Helm Provenance and Integrity"): a PGP clear-signed message whose
 * body is the chart's Chart.yaml, a '...' line, then a YAML map of file digests. A repository
 * does not verify the signature (clients do, with their keyring); it needs the chart name and
 * version to file a provenance uploaded on its own.
 */

const BEGIN = '-----BEGIN PGP SIGNED MESSAGE-----'
const SIGNATURE = '-----BEGIN PGP SIGNATURE-----'

/** Thrown for a provenance file a repository must refuse. */
export class ProvenanceError extends Error {}

/** Whether `text` is shaped like a clear-signed provenance file. */
export function looksLikeProvenance(text: string): boolean {
  return text.trimStart().startsWith(BEGIN) && text.includes(SIGNATURE)
}

/** The chart name and version a provenance file is for. */
export function provenanceChart(text: string): { name: string; version: string } {
  if (!looksLikeProvenance(text)) throw new ProvenanceError('not a provenance file (expected a PGP clear-signed message)')
  const start = text.indexOf(BEGIN) + BEGIN.length
  // The armor headers ("Hash: SHA512") end at the first empty line.
  const headersEnd = text.indexOf('\n\n', start)
  const end = text.indexOf(SIGNATURE)
  if (headersEnd < 0 || headersEnd > end) throw new ProvenanceError('malformed provenance file: no signed body')
  const body = text.slice(headersEnd + 2, end)
  // Clear-signing escapes lines starting with '-' as '- -'.
  const unescaped = body.replace(/^- /gm, '')
  const chartPart = unescaped.split(/^\.\.\.\s*$/m)[0] ?? ''
  let doc: unknown
  try {
    doc = parse(chartPart, { maxAliasCount: MAX_YAML_ALIASES })
  } catch (err) {
    throw new ProvenanceError(`malformed provenance file: ${(err as Error).message.split('\n')[0]}`)
  }
  const d = doc as { name?: unknown; version?: unknown } | null
  if (!d || typeof d.name !== 'string' || typeof d.version !== 'string') {
    throw new ProvenanceError('provenance file names no chart name and version')
  }
  return { name: d.name, version: d.version }
}
