#!/usr/bin/env node
// Runs a TypeScript file (a benchmark, a script) with the same polyfill and loader as `ak`.
import './polyfill.mjs'
import { register } from 'tsx/esm/api'
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

register()
const file = process.argv[2]
if (!file) {
  process.stderr.write('usage: run-ts.mjs <file.ts> [args…]\n')
  process.exit(2)
}
process.argv.splice(1, 1)
await import(pathToFileURL(resolve(file)).href)
