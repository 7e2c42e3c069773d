#!/usr/bin/env node
// `npm run build`, and `prepare` (so `npm ci` runs it): compiles the node's TypeScript sources to
// dist/ with tsc (tsconfig.build.json), then writes dist/.build-stamp, which bin/ak.mjs reads to
// tell a fresh build from a stale one. Without TypeScript (installed with --omit=dev) it says so
// and leaves dist/ as it is.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DIST, ROOT, STAMP } from './build-info.mjs'

let tsc
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
} catch {
  process.stderr.write('ak build: typescript (a devDependency) is not installed; dist/ left as it is\n')
  process.exit(0)
}

const startedAtMs = Date.now()
rmSync(DIST, { recursive: true, force: true })
const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' })
if (result.status !== 0) {
  // No stamp: bin/ak.mjs then runs the sources rather than a half-made build.
  process.stderr.write(`ak build: tsc failed (exit ${result.status ?? result.signal})\n`)
  process.exit(1)
}
mkdirSync(DIST, { recursive: true })
writeFileSync(STAMP, JSON.stringify({ startedAtMs, builtAt: new Date().toISOString() }) + '\n')
process.stdout.write(`ak build: dist/ compiled in ${((Date.now() - startedAtMs) / 1000).toFixed(1)} s\n`)
