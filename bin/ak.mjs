#!/usr/bin/env node
// Entry point of the `ak` command (`npm start` is `ak serve`). Runs the compiled build in dist/
// (`npm run build`, which `npm ci` runs through `prepare`) when it is present and no source file
// changed since it was made; otherwise the TypeScript sources through tsx (a devDependency), so
// an edit is never hidden by a stale build.
//   AK_FROM_SOURCE=1    always the sources (vitest sets it: tests run what is checked out)
//   AK_REQUIRE_BUILD=1  fail rather than fall back to the sources (bench:startup)
// The polyfill is imported first, before anything that loads libp2p.
import './polyfill.mjs'
import { pathToFileURL } from 'node:url'
import { buildStartedAt, changedSince, COMPILED_CLI } from './build-info.mjs'

function fail(message) {
  process.stderr.write(`ak: ${message}\n`)
  process.exit(1)
}

/** Why the build cannot be used, or undefined when it can. */
function buildProblem() {
  if (process.env.AK_FROM_SOURCE === '1') return 'AK_FROM_SOURCE=1'
  const started = buildStartedAt()
  if (started === undefined) return 'there is no build in dist/ (npm run build)'
  const changed = changedSince(started)
  return changed ? `dist/ is older than ${changed} (npm run build)` : undefined
}

const problem = buildProblem()
let main
if (!problem) {
  ;({ main } = await import(pathToFileURL(COMPILED_CLI).href))
} else {
  if (process.env.AK_REQUIRE_BUILD === '1') fail(problem)
  let register
  try {
    ;({ register } = await import('tsx/esm/api'))
  } catch {
    fail(`${problem}, and tsx (a devDependency) is not installed to run the sources`)
  }
  // Say why a built checkout runs the slower way; quiet when asked to or when never built.
  if (process.env.AK_FROM_SOURCE !== '1' && buildStartedAt() !== undefined) {
    process.stderr.write(`ak: ${problem}; running the sources through tsx\n`)
  }
  register()
  ;({ main } = await import('../node/cli.ts'))
}
await main(process.argv)
