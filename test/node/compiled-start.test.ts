import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO_ROOT, startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'

/*
 * `npm start` runs the compiled build (issue 12 part 4). This compiles the sources as
 * `npm run build` does, into a package laid out like the Docker image (package.json, bin/,
 * migrations/, dist/, node_modules; no sources, so bin/ak.mjs can only run dist/), and starts it:
 * the .ts specifiers must be rewritten, migrations found from the package root, and the default
 * configuration must load neither the AWS SDK nor the libp2p stack.
 */

const run = promisify(execFile)
const HEAVY = ['/node_modules/@aws-sdk/', '/node_modules/libp2p/', '/node_modules/@libp2p/kad-dht/', '/node_modules/@chainsafe/libp2p-noise/']

describe('compiled start', () => {
  let pkg: string
  let loaded: string
  let node: NodeProcess

  beforeAll(async () => {
    pkg = tempDir('ak-compiled-')
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    await run(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: REPO_ROOT, timeout: 180_000 })
    copyFileSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'))
    mkdirSync(join(pkg, 'bin'))
    for (const f of readdirSync(join(REPO_ROOT, 'bin'))) copyFileSync(join(REPO_ROOT, 'bin', f), join(pkg, 'bin', f))
    symlinkSync(join(REPO_ROOT, 'migrations'), join(pkg, 'migrations'))
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(pkg, 'node_modules'))
    writeFileSync(join(pkg, 'dist', '.build-stamp'), JSON.stringify({ startedAtMs: Date.now() }) + '\n')

    // A module hook that writes down every module the node loads.
    loaded = join(pkg, 'loaded.txt')
    writeFileSync(join(pkg, 'hooks.mjs'), `import { appendFileSync } from 'node:fs'\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(loaded)}, url + '\\n')\n  return next(url, context)\n}\n`)
    writeFileSync(join(pkg, 'register.mjs'), `import { register } from 'node:module'\nregister(${JSON.stringify(`file://${join(pkg, 'hooks.mjs')}`)})\n`)
    node = await startNodeProcess({
      bin: join(pkg, 'bin', 'ak.mjs'),
      // AK_REQUIRE_BUILD: fail rather than fall back to the sources (there are none here anyway).
      env: { AK_FROM_SOURCE: '', AK_REQUIRE_BUILD: '1', NODE_OPTIONS: `--import ${join(pkg, 'register.mjs')}` },
    })
  }, 240_000)

  afterAll(async () => {
    await node?.stop()
    if (pkg) rmSync(pkg, { recursive: true, force: true })
  })

  it('leaves no .ts import specifier in the build', () => {
    const bad: string[] = []
    for (const f of readdirSync(join(pkg, 'dist'), { recursive: true, withFileTypes: true })) {
      if (!f.name.endsWith('.js')) continue
      const text = readFileSync(join(f.parentPath, f.name), 'utf8')
      if (/(from\s+|import\s*\(\s*)['"]\.{1,2}\/[^'"]*\.ts['"]/.test(text)) bad.push(f.name)
    }
    expect(bad).toEqual([])
  })

  it('serves /ready from dist/ with the migrations found from the package root', async () => {
    const res = await fetch(`${node.url}/ready`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ready', storage: 'fs' })
    const urls = readFileSync(loaded, 'utf8').split('\n')
    expect(urls.some((u) => u.includes(`${pkg}/dist/node/cli.js`))).toBe(true)
    expect(urls.some((u) => u.endsWith('.ts'))).toBe(false)
  })

  it('loads neither the AWS SDK (filesystem backend) nor the libp2p stack (mesh off)', () => {
    const urls = readFileSync(loaded, 'utf8').split('\n')
    expect(HEAVY.filter((h) => urls.some((u) => u.includes(h)))).toEqual([])
  })
})
