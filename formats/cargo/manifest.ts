/**
 * Reads `name` and `version` out of the [package] table of a Cargo.toml. Not a TOML parser:
 * cargo normalises the manifest it packages (https://doc.rust-lang.org/cargo/reference/publishing.html),
 * so both keys are plain `key = "string"` lines inside `[package]` (or the old `[project]`).
 */
export interface PackageId {
  name: string | undefined
  version: string | undefined
}

const TABLE = /^\[\s*([A-Za-z0-9_.\-"' ]+?)\s*\]\s*(#.*)?$/
const KEY_VALUE = /^("?)(name|version)\1\s*=\s*(.+)$/

/** Decodes a TOML basic ("…") or literal ('…') one-line string, or undefined for anything else. */
function tomlString(text: string): string | undefined {
  const t = text.replace(/\s+#.*$/, '').trim()
  if (t.length >= 2 && t.startsWith("'") && t.endsWith("'") && !t.slice(1, -1).includes("'")) return t.slice(1, -1)
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) {
    try {
      const v: unknown = JSON.parse(t)
      return typeof v === 'string' ? v : undefined
    } catch {
      return undefined
    }
  }
  return undefined
}

export function readPackageId(toml: string): PackageId {
  const out: PackageId = { name: undefined, version: undefined }
  let inPackage = false
  for (const rawLine of toml.split(/\r?\n/)) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#')) continue
    if (line.startsWith('[')) {
      const m = TABLE.exec(line)
      const table = m ? (m[1] as string).replace(/["' ]/g, '') : ''
      inPackage = !line.startsWith('[[') && (table === 'package' || table === 'project')
      continue
    }
    if (!inPackage) continue
    const kv = KEY_VALUE.exec(line)
    if (!kv) continue
    const key = kv[2] as 'name' | 'version'
    if (out[key] === undefined) out[key] = tomlString(kv[3] as string)
  }
  return out
}
