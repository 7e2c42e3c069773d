#!/usr/bin/env node
// Entry point of the `ak` command. Runs the TypeScript sources through tsx's loader,
// so a checkout needs no build step: `npm ci && npm start` is enough.
import './polyfill.mjs'
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../node/cli.ts')
await main(process.argv)
