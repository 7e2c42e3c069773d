// A generated npm corpus with a realistic shape: packages in layers (leaf utilities at the bottom,
// frameworks at the top), scoped and unscoped, several versions each, and semver ranges (^, ~,
// bounded >=/<, x-ranges, exact pins) between them, so that an install resolves ranges, nests
// conflicting versions and dedupes the rest. Deterministic for a given seed.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** How many versions the packument benchmark's "many versions" package has. */
export const MANY_VERSIONS = 12
const SCOPES = ['@acme', '@corp', '@tools']
/** Share of packages that are scoped. */
const SCOPED_SHARE = 0.3
/** Share of the corpus in each layer, bottom (no dependencies) to top. */
const LAYER_SHARES = [0.34, 0.26, 0.2, 0.12, 0.08]
const WORDS = (
  'array async buffer cache color config date debug deep diff emit event fast file flat format glob hash http ' +
  'json lazy lint list log map merge mime minify mock parse path pick pipe pool promise queue range retry ' +
  'router schema semver shell slug sort split stream string style sync table tar template text time token ' +
  'tree trim type url util uuid validate watch wrap yaml zip'
).split(' ')
const SUFFIXES = ['js', 'lite', 'core', 'kit', 'utils', 'plus', 'x', 'ng', 'fy', 'it']

export interface CorpusVersion {
  name: string
  version: string
  /** Directory holding package.json and the sources; `npm publish` runs here. */
  dir: string
  dependencies: Record<string, string>
}

export interface Corpus {
  /** Every package name, bottom layer first. */
  names: string[]
  /** Every version in publish order (dependencies before dependents, versions ascending). */
  versions: CorpusVersion[]
  /** Dependencies of the benchmark project: the top layer, each at ^latest. */
  roots: Record<string, string>
  /** A package with exactly one version. */
  oneVersion: string
  /** A package with MANY_VERSIONS versions. */
  manyVersions: string
}

/** mulberry32: a small deterministic PRNG, so the same seed makes the same corpus. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Pkg {
  name: string
  layer: number
  versions: string[]
  /** Dependencies chosen once per package; later versions may add one. */
  deps: Pkg[]
}

/** Writes the corpus's package sources under `dir` and describes it. */
export function generateCorpus(dir: string, count: number, seed = 1): Corpus {
  const random = prng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
  const used = new Set<string>()
  const newName = (): string => {
    for (;;) {
      const base = random() < 0.5 ? `${pick(WORDS)}-${pick(WORDS)}` : `${pick(WORDS)}-${pick(SUFFIXES)}`
      const name = random() < SCOPED_SHARE ? `${pick(SCOPES)}/${base}` : base
      if (!used.has(name) && !used.has(base)) {
        used.add(name)
        return name
      }
    }
  }

  // Layer sizes: the shares of `count`, the top layer taking the rounding remainder.
  const sizes = LAYER_SHARES.map((s) => Math.max(1, Math.floor(s * count)))
  sizes[sizes.length - 1] = Math.max(1, count - sizes.slice(0, -1).reduce((a, b) => a + b, 0))
  const layers: Pkg[][] = sizes.map((size, layer) =>
    Array.from({ length: size }, () => ({ name: newName(), layer, versions: versionSeries(random, 1 + pick([0, 1, 1, 2])), deps: [] })),
  )
  const bottom = layers[0] as Pkg[]
  ;(bottom[0] as Pkg).versions = versionSeries(random, MANY_VERSIONS)
  ;(bottom[1] as Pkg).versions = ['1.0.0']

  // Each package above the bottom depends on 1–4 packages from lower layers, mostly the layer just
  // below; packages nobody depends on yet are preferred, so an install of the top reaches most of the graph.
  const dependedOn = new Set<Pkg>()
  for (let l = 1; l < layers.length; l++) {
    for (const pkg of layers[l] as Pkg[]) {
      const want = 1 + Math.floor(random() * 4)
      for (let k = 0; k < want; k++) {
        const fromLayer = random() < 0.7 ? l - 1 : Math.floor(random() * l)
        const candidates = (layers[fromLayer] as Pkg[]).filter((p) => !pkg.deps.includes(p))
        const fresh = candidates.filter((p) => !dependedOn.has(p))
        const target = fresh.length > 0 ? pick(fresh) : candidates.length > 0 ? pick(candidates) : undefined
        if (!target) continue
        pkg.deps.push(target)
        dependedOn.add(target)
      }
    }
  }

  const versions: CorpusVersion[] = []
  for (const pkg of layers.flat()) {
    pkg.versions.forEach((version, i) => {
      // Older versions of a package depend on a prefix of its dependency list.
      const deps = pkg.deps.slice(0, Math.max(1, Math.ceil(((i + 1) / pkg.versions.length) * pkg.deps.length)))
      const dependencies = Object.fromEntries(deps.map((d) => [d.name, rangeFor(random, d.versions)]))
      const versionDir = join(dir, pkg.name.replace('/', '__'), version)
      writePackage(versionDir, pkg.name, version, dependencies, random)
      versions.push({ name: pkg.name, version, dir: versionDir, dependencies })
    })
  }
  const top = layers[layers.length - 1] as Pkg[]
  return {
    names: layers.flat().map((p) => p.name),
    versions,
    roots: Object.fromEntries(top.map((p) => [p.name, `^${p.versions[p.versions.length - 1] as string}`])),
    oneVersion: (bottom[1] as Pkg).name,
    manyVersions: (bottom[0] as Pkg).name,
  }
}

/** `n` ascending versions from 1.0.0: mostly minor bumps, some patches, an occasional major. */
function versionSeries(random: () => number, n: number): string[] {
  let [major, minor, patch] = [1, 0, 0]
  const out = ['1.0.0']
  while (out.length < n) {
    const r = random()
    if (r < 0.6) [minor, patch] = [minor + 1, 0]
    else if (r < 0.9) patch += 1
    else [major, minor, patch] = [major + 1, 0, 0]
    out.push(`${major}.${minor}.${patch}`)
  }
  return out
}

/** A range that some version in `versions` satisfies, in the styles real manifests use. */
function rangeFor(random: () => number, versions: string[]): string {
  // Newer versions are depended on more often.
  const v = versions[Math.floor(versions.length * Math.sqrt(random()))] ?? (versions[0] as string)
  const [major, minor] = v.split('.').map(Number) as [number, number]
  const r = random()
  if (r < 0.5) return `^${v}`
  if (r < 0.7) return `~${v}`
  if (r < 0.82) return `>=${v} <${major + 1}.0.0`
  if (r < 0.92) return v
  return `${major}.${minor}.x`
}

function sentence(random: () => number): string {
  const n = 6 + Math.floor(random() * 10)
  const words = Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)] as string)
  return `${words.join(' ')}.`
}

function writePackage(dir: string, name: string, version: string, dependencies: Record<string, string>, random: () => number): void {
  mkdirSync(join(dir, 'lib'), { recursive: true })
  const manifest = {
    name,
    version,
    description: sentence(random),
    main: 'index.js',
    license: 'MIT',
    keywords: [name.split('/').pop()?.split('-')[0], 'bench'],
    repository: { type: 'git', url: `https://example.invalid/${name}.git` },
    dependencies,
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  const requires = Object.keys(dependencies).map((d, i) => `const dep${i} = require('${d}')`)
  writeFileSync(
    join(dir, 'index.js'),
    `'use strict'\n${requires.join('\n')}\nmodule.exports = { name: '${name}', version: '${version}', lib: require('./lib/impl.js') }\n`,
  )
  const paragraphs = Array.from({ length: 3 + Math.floor(random() * 6) }, () => Array.from({ length: 4 }, () => sentence(random)).join(' '))
  writeFileSync(join(dir, 'README.md'), `# ${name}\n\n${paragraphs.join('\n\n')}\n`)
  const functions = Array.from({ length: 10 + Math.floor(random() * 40) }, (_, i) => {
    const body = Array.from({ length: 3 + Math.floor(random() * 6) }, (_, j) => `  const v${j} = input.${WORDS[Math.floor(random() * WORDS.length)]} ?? ${Math.floor(random() * 1000)}`)
    return `// ${sentence(random)}\nexports.fn${i} = function (input) {\n${body.join('\n')}\n  return [${body.map((_, j) => `v${j}`).join(', ')}]\n}\n`
  })
  writeFileSync(join(dir, 'lib', 'impl.js'), `'use strict'\n${functions.join('\n')}`)
}
