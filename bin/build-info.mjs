// What bin/build.mjs writes and bin/ak.mjs checks: dist/ is the compiled build of the source
// folders below, and dist/.build-stamp records when that build started. The build is fresh when
// no source file (nor a tsconfig) changed since; a checkout without the sources (the Docker
// image) always runs dist/.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const DIST = join(ROOT, 'dist')
export const STAMP = join(DIST, '.build-stamp')
/** dist/node/cli.js: what `ak` runs from a build. */
export const COMPILED_CLI = join(DIST, 'node', 'cli.js')
/** The folders tsconfig.build.json compiles. */
export const SOURCE_DIRS = ['node', 'formats', 'store', 'scheduler', 'mesh']
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json']

/** When the present build started (ms since the epoch), or undefined when there is none. */
export function buildStartedAt() {
  if (!existsSync(STAMP) || !existsSync(COMPILED_CLI)) return undefined
  try {
    const started = Number(JSON.parse(readFileSync(STAMP, 'utf8')).startedAtMs)
    return Number.isFinite(started) ? started : undefined
  } catch {
    return undefined
  }
}

/**
 * The first source file (relative path) modified after `sinceMs`, or undefined when none is.
 * A folder's own mtime counts too, so a deleted or renamed file makes the build stale.
 * About 250 stat calls: a few milliseconds.
 */
export function changedSince(sinceMs) {
  for (const file of CONFIG_FILES) {
    const path = join(ROOT, file)
    if (existsSync(path) && statSync(path).mtimeMs > sinceMs) return file
  }
  for (const dir of SOURCE_DIRS) {
    const top = join(ROOT, dir)
    if (!existsSync(top)) continue
    if (statSync(top).mtimeMs > sinceMs) return dir
    for (const entry of readdirSync(top, { recursive: true, withFileTypes: true })) {
      if (!entry.isDirectory() && !entry.name.endsWith('.ts')) continue
      const path = join(entry.parentPath, entry.name)
      if (statSync(path).mtimeMs > sinceMs) return path.slice(ROOT.length + 1)
    }
  }
  return undefined
}
