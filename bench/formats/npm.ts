// npm benchmark: a generated corpus published with the npm CLI to an Artifact Keeper node and to
// Verdaccio 5 (no uplinks), then cold `npm install`s of a project on top of the graph in
// alternating order, then packument throughput with autocannon. Both registries run for the whole
// section; every figure has the wall time and the registry process's own CPU for the same work.
import autocannon from 'autocannon'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateCorpus, MANY_VERSIONS, type Corpus } from './npm-corpus.ts'
import { MINUTE, SECOND, measure, median, mustRun, run, ratio, round, summarize, table, versionOf, type Sample, type Summary } from './measure.ts'
import { startAk, startVerdaccio, VERDACCIO_BIN, type Registry } from './registries.ts'

const PUBLISH_TIMEOUT = 2 * MINUTE
/** A publish that fails is tried again this many times in all before the benchmark gives up. */
const PUBLISH_ATTEMPTS = 2
const INSTALL_TIMEOUT = 10 * MINUTE
/** The node's npm repository. */
const AK_REPOSITORY = 'bench'
const VERDACCIO_USER = { name: 'bench', password: 'bench-password-1' }
const ABBREVIATED = 'application/vnd.npm.install-v1+json'
/** Sequential requests to a packument before it is measured (JIT, caches, keep-alive). */
const WARMUP_REQUESTS = 50

export interface NpmOptions {
  rounds: number
  packages: number
  /** Seconds per autocannon run. */
  durationS: number
  connections: number
  /** Scratch directory (removed by the caller). */
  work: string
  log: (line: string) => void
}

type Subject = 'ak' | 'verdaccio'
const SUBJECTS: Subject[] = ['ak', 'verdaccio']

interface Target {
  subject: Subject
  registry: Registry
  /** The registry URL npm is given (ends with '/'). */
  npmUrl: string
  /** `Bearer <token>` of the publishing user. */
  auth: string
  userconfig: string
}

export interface PacumentRun {
  requestsPerS: number
  /** Mean bytes per response. */
  bytesPerResponse: number
  contentType: string
  non2xx: number
  errors: number
  /** Registry CPU milliseconds per request. */
  cpuMsPerRequest: number
}

export interface PublishFailure {
  subject: Subject
  version: string
  attempt: number
  wallS: number
  error: string
}

export interface NpmResult {
  corpus: { packages: number; versions: number; scoped: number; roots: number; installedPackages: Record<Subject, number> }
  rounds: number
  clients: { npm: string; verdaccio: string }
  /** Totals over successful publishes; failed attempts are listed in publishFailures. */
  publish: Record<Subject, { wallS: number; cpuS: number; medianMs: number; maxMs: number }>
  publishFailures: PublishFailure[]
  install: Record<Subject, Summary>
  packuments: { scenario: string; name: string; versions: number; durationS: number; connections: number; ak: PacumentRun; verdaccio: PacumentRun }[]
  goals: { name: string; value: string; goal: string; met: boolean }[]
}

/** The environment of every npm call: nothing from an outer `npm run` or the user's config. */
function npmEnv(home: string, userconfig: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^npm_/i.test(k) || /_proxy$/i.test(k)) continue
    env[k] = v
  }
  return {
    ...env,
    HOME: home,
    npm_config_userconfig: userconfig,
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_loglevel: 'warn',
  }
}

export async function benchNpm(options: NpmOptions): Promise<NpmResult> {
  if (versionOf('npm') === 'missing') throw new Error('npm is missing: apt-get install -y npm')
  if (!existsSync(VERDACCIO_BIN)) throw new Error(`${VERDACCIO_BIN} is missing (verdaccio is a devDependency)`)
  const { work, log } = options
  const home = join(work, 'home')
  mkdirSync(home, { recursive: true })

  log(`npm: generating a corpus of ${options.packages} packages…`)
  const corpus = generateCorpus(join(work, 'corpus'), options.packages)
  log(`npm: ${corpus.names.length} packages, ${corpus.versions.length} versions, roots ${Object.keys(corpus.roots).join(' ')}`)

  const targets: Target[] = []
  try {
    for (const subject of SUBJECTS) {
      const dir = join(work, subject)
      mkdirSync(dir)
      targets.push(subject === 'ak' ? await akTarget(dir) : await verdaccioTarget(dir))
    }
    const [ak, verdaccio] = targets as [Target, Target]
    const pair = (i: number): [Target, Target] => (i % 2 === 0 ? [ak, verdaccio] : [verdaccio, ak])

    // Serial publish of the whole corpus, interleaved so that load from elsewhere hits both alike.
    const published: Record<Subject, Sample[]> = { ak: [], verdaccio: [] }
    const publishFailures: PublishFailure[] = []
    for (const [i, v] of corpus.versions.entries()) {
      for (const t of pair(i)) {
        for (let attempt = 1; ; attempt++) {
          let failure = ''
          const sample = await measure(t.registry.pid, async () => {
            const r = await run('npm', ['publish', '--access=public', '--ignore-scripts'], { cwd: v.dir, env: npmEnv(home, t.userconfig), timeoutMs: PUBLISH_TIMEOUT })
            if (r.code !== 0) failure = `exit ${r.code}: ${r.stderr.trim().slice(-1000)}\n--- npm debug log ---\n${lastNpmLog(home)}`
          })
          if (!failure) {
            published[t.subject].push(sample)
            break
          }
          // A failed attempt is reported, not hidden in the total; the version is retried once.
          publishFailures.push({ subject: t.subject, version: `${v.name}@${v.version}`, attempt, wallS: round(sample.wallS, 2), error: failure })
          log(`npm: publish of ${v.name}@${v.version} to ${t.subject} failed after ${sample.wallS.toFixed(1)} s (attempt ${attempt}):\n${failure}`)
          if (attempt >= PUBLISH_ATTEMPTS) throw new Error(`npm publish of ${v.name}@${v.version} to ${t.subject} failed ${attempt} times`)
        }
      }
      if ((i + 1) % 50 === 0) log(`npm: published ${i + 1}/${corpus.versions.length} versions to both`)
    }
    for (const t of targets) await checkPublished(t, corpus)

    // Cold installs, alternating which registry goes first.
    const installs: Record<Subject, Sample[]> = { ak: [], verdaccio: [] }
    const installedPackages: Record<Subject, number> = { ak: 0, verdaccio: 0 }
    for (let r = 0; r < options.rounds; r++) {
      for (const t of pair(r)) {
        const project = join(work, `install-${t.subject}-${r}`)
        const cache = join(work, `cache-${t.subject}-${r}`)
        mkdirSync(project)
        writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true, dependencies: corpus.roots }, null, 2))
        const sample = await measure(t.registry.pid, async () => {
          await mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-online', `--cache=${cache}`], {
            cwd: project,
            env: npmEnv(home, t.userconfig),
            timeoutMs: INSTALL_TIMEOUT,
          })
        })
        installs[t.subject].push(sample)
        installedPackages[t.subject] = countInstalled(project)
        log(`npm install round ${r + 1}/${options.rounds} ${t.subject.padEnd(9)} ${sample.wallS.toFixed(2)} s (registry cpu ${sample.cpuS.toFixed(2)} s, ${installedPackages[t.subject]} packages)`)
        rmSync(project, { recursive: true, force: true })
        rmSync(cache, { recursive: true, force: true })
      }
    }
    if (installedPackages.ak !== installedPackages.verdaccio) {
      throw new Error(`the installs differ: ${installedPackages.ak} packages from ak, ${installedPackages.verdaccio} from verdaccio`)
    }

    // Packument throughput.
    const packuments: NpmResult['packuments'] = []
    const scenarios = [
      { scenario: '1 version, full', name: corpus.oneVersion, versions: 1, abbreviated: false },
      { scenario: '1 version, abbreviated', name: corpus.oneVersion, versions: 1, abbreviated: true },
      { scenario: `${MANY_VERSIONS} versions, full`, name: corpus.manyVersions, versions: MANY_VERSIONS, abbreviated: false },
      { scenario: `${MANY_VERSIONS} versions, abbreviated`, name: corpus.manyVersions, versions: MANY_VERSIONS, abbreviated: true },
    ]
    for (const [i, s] of scenarios.entries()) {
      const runs: Partial<Record<Subject, PacumentRun>> = {}
      for (const t of pair(i)) runs[t.subject] = await packumentRun(t, s.name, s.abbreviated, options)
      packuments.push({ ...s, durationS: options.durationS, connections: options.connections, ak: runs.ak as PacumentRun, verdaccio: runs.verdaccio as PacumentRun })
      log(`npm packument ${s.scenario}: ak ${runs.ak?.requestsPerS} req/s, verdaccio ${runs.verdaccio?.requestsPerS} req/s`)
    }

    const sum = (xs: Sample[]) => xs.reduce((a, s) => ({ wallS: a.wallS + s.wallS, cpuS: a.cpuS + s.cpuS }), { wallS: 0, cpuS: 0 })
    const publish = Object.fromEntries(
      SUBJECTS.map((k) => {
        const total = sum(published[k])
        const walls = published[k].map((x) => x.wallS * 1000)
        return [k, { wallS: round(total.wallS, 2), cpuS: round(total.cpuS, 2), medianMs: Math.round(median(walls)), maxMs: Math.round(Math.max(...walls)) }]
      }),
    ) as NpmResult['publish']
    const install = { ak: summarize(installs.ak), verdaccio: summarize(installs.verdaccio) }
    const goals: NpmResult['goals'] = [
      { name: 'install wall, ak / verdaccio', value: ratio(install.ak.wallS, install.verdaccio.wallS), goal: '≤ 1.00×', met: install.ak.wallS <= install.verdaccio.wallS },
      { name: 'install registry CPU, ak / verdaccio', value: ratio(install.ak.cpuS, install.verdaccio.cpuS), goal: '≤ 0.50×', met: install.ak.cpuS <= 0.5 * install.verdaccio.cpuS },
      ...packuments.map((p) => ({
        name: `packument req/s (${p.scenario}), ak / verdaccio`,
        value: ratio(p.ak.requestsPerS, p.verdaccio.requestsPerS),
        goal: '≥ 2.00×',
        met: p.ak.requestsPerS >= 2 * p.verdaccio.requestsPerS,
      })),
      { name: 'serial publish speed-up, verdaccio time / ak time', value: ratio(publish.verdaccio.wallS, publish.ak.wallS), goal: '≥ 1.50×', met: publish.verdaccio.wallS >= 1.5 * publish.ak.wallS },
    ]
    return {
      corpus: {
        packages: corpus.names.length,
        versions: corpus.versions.length,
        scoped: corpus.names.filter((n) => n.startsWith('@')).length,
        roots: Object.keys(corpus.roots).length,
        installedPackages,
      },
      rounds: options.rounds,
      clients: { npm: versionOf('npm'), verdaccio: verdaccioVersion() },
      publish,
      publishFailures,
      install,
      packuments,
      goals,
    }
  } finally {
    for (const t of targets) await t.registry.stop()
  }
}

/** The tables of the npm section, for stdout and bench/README.md. */
export function npmTables(r: NpmResult): string[] {
  const f = (x: number) => x.toFixed(2)
  return [
    `Cold \`npm install\` of ${r.corpus.roots} top packages (${r.corpus.installedPackages.ak} packages installed), median of ${r.rounds}; serial \`npm publish\` of ${r.corpus.versions} versions, total:`,
    '',
    table(
      ['work', 'ak wall s', 'verdaccio wall s', 'wall ak/v', 'ak CPU s', 'verdaccio CPU s', 'CPU ak/v'],
      [
        ['install', f(r.install.ak.wallS), f(r.install.verdaccio.wallS), ratio(r.install.ak.wallS, r.install.verdaccio.wallS), f(r.install.ak.cpuS), f(r.install.verdaccio.cpuS), ratio(r.install.ak.cpuS, r.install.verdaccio.cpuS)],
        ['publish (all)', f(r.publish.ak.wallS), f(r.publish.verdaccio.wallS), ratio(r.publish.ak.wallS, r.publish.verdaccio.wallS), f(r.publish.ak.cpuS), f(r.publish.verdaccio.cpuS), ratio(r.publish.ak.cpuS, r.publish.verdaccio.cpuS)],
      ],
    ),
    '',
    `Per publish (wall): ak median ${r.publish.ak.medianMs} ms, max ${r.publish.ak.maxMs} ms; verdaccio median ${r.publish.verdaccio.medianMs} ms, max ${r.publish.verdaccio.maxMs} ms; failed attempts (retried, not in the totals): ${r.publishFailures.length === 0 ? 'none' : r.publishFailures.map((f) => `${f.subject} ${f.version} after ${f.wallS} s`).join(', ')}.`,
    '',
    `Packument throughput, autocannon ${r.packuments[0]?.connections} connections × ${r.packuments[0]?.durationS} s each:`,
    '',
    table(
      ['packument', 'ak req/s', 'verdaccio req/s', 'ak/v', 'ak bytes', 'v bytes', 'ak CPU ms/req', 'v CPU ms/req', 'v content-type'],
      r.packuments.map((p) => [
        p.scenario,
        p.ak.requestsPerS,
        p.verdaccio.requestsPerS,
        ratio(p.ak.requestsPerS, p.verdaccio.requestsPerS),
        p.ak.bytesPerResponse,
        p.verdaccio.bytesPerResponse,
        p.ak.cpuMsPerRequest,
        p.verdaccio.cpuMsPerRequest,
        p.verdaccio.contentType,
      ]),
    ),
    '',
  ]
}

async function akTarget(dir: string): Promise<Target> {
  const registry = await startAk(dir)
  const api = async (path: string, body: unknown) => {
    const res = await fetch(`${registry.url}/api/v1/${path}`, {
      method: 'POST',
      headers: { authorization: registry.auth as string, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (res.status !== 201) throw new Error(`POST /api/v1/${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as Record<string, unknown>
  }
  await api('repositories', { key: AK_REPOSITORY, format: 'npm', type: 'local' })
  const { token } = (await api('tokens', { name: 'bench', access: 'write' })) as { token: string }
  return target('ak', registry, `${registry.url}/npm/${AK_REPOSITORY}/`, token, dir)
}

async function verdaccioTarget(dir: string): Promise<Target> {
  const registry = await startVerdaccio(dir)
  const res = await fetch(`${registry.url}/-/user/org.couchdb.user:${VERDACCIO_USER.name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ _id: `org.couchdb.user:${VERDACCIO_USER.name}`, name: VERDACCIO_USER.name, password: VERDACCIO_USER.password, type: 'user', roles: [] }),
  })
  if (res.status !== 201) throw new Error(`verdaccio adduser: ${res.status} ${await res.text()}`)
  const { token } = (await res.json()) as { token: string }
  return target('verdaccio', registry, `${registry.url}/`, token, dir)
}

/** npm's user config for one registry: the registry URL and the token for its path. */
function target(subject: Subject, registry: Registry, npmUrl: string, token: string, dir: string): Target {
  const userconfig = join(dir, 'npmrc')
  writeFileSync(userconfig, `registry=${npmUrl}\n${npmUrl.replace(/^https?:/, '')}:_authToken=${token}\n`)
  return { subject, registry, npmUrl, auth: `Bearer ${token}`, userconfig }
}

const packumentUrl = (t: Target, name: string) => `${t.npmUrl}${name.replace('/', '%2f')}`

/** Both registries must serve every published version of the many-versions package. */
async function checkPublished(t: Target, corpus: Corpus): Promise<void> {
  const res = await fetch(packumentUrl(t, corpus.manyVersions), { headers: { authorization: t.auth } })
  const doc = (await res.json()) as { versions?: Record<string, unknown> }
  const count = Object.keys(doc.versions ?? {}).length
  if (res.status !== 200 || count !== MANY_VERSIONS) throw new Error(`${t.subject}: ${corpus.manyVersions} has ${count} versions (HTTP ${res.status})`)
}

/** Packages npm installed, from node_modules/.package-lock.json (npm 7+ hidden lockfile). */
function countInstalled(project: string): number {
  const file = join(project, 'node_modules', '.package-lock.json')
  if (!existsSync(file)) return 0
  const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages?: Record<string, unknown> }
  return Object.keys(lock.packages ?? {}).filter((k) => k.startsWith('node_modules/')).length
}

async function packumentRun(t: Target, name: string, abbreviated: boolean, options: NpmOptions): Promise<PacumentRun> {
  const url = packumentUrl(t, name)
  const headers: Record<string, string> = { authorization: t.auth, accept: abbreviated ? ABBREVIATED : 'application/json' }
  let contentType = ''
  for (let i = 0; i < WARMUP_REQUESTS; i++) {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(10 * SECOND) })
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`${t.subject} GET ${url}: ${res.status}`)
    contentType = res.headers.get('content-type') ?? ''
  }
  let result: Awaited<ReturnType<typeof autocannon>> | undefined
  const sample = await measure(t.registry.pid, async () => {
    result = await autocannon({ url, connections: options.connections, duration: options.durationS, headers })
  })
  const r = result as Awaited<ReturnType<typeof autocannon>>
  const requests = r.requests.total
  if (r.non2xx > 0 || r.errors > 0) options.log(`warning: ${t.subject} ${url}: ${r.non2xx} non-2xx answers, ${r.errors} errors`)
  return {
    requestsPerS: Math.round(requests / r.duration),
    bytesPerResponse: requests > 0 ? Math.round((r.throughput.total ?? 0) / requests) : 0,
    contentType: contentType.split(';')[0] ?? '',
    non2xx: r.non2xx,
    errors: r.errors,
    cpuMsPerRequest: requests > 0 ? round((sample.cpuS * 1000) / requests, 3) : 0,
  }
}

/** The tail of npm's newest debug log (npm keeps them in ~/.npm/_logs). */
function lastNpmLog(home: string): string {
  const dir = join(home, '.npm', '_logs')
  if (!existsSync(dir)) return ''
  const newest = readdirSync(dir).sort().pop()
  return newest ? readFileSync(join(dir, newest), 'utf8').split('\n').slice(-40).join('\n') : ''
}

function verdaccioVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(VERDACCIO_BIN, '..', '..', 'package.json'), 'utf8')) as { version: string }
    return pkg.version
  } catch {
    return 'unknown'
  }
}
