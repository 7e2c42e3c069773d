// OCI benchmark: skopeo copies a large multi-layer image into a registry (push) and back out of it
// (pull), against an Artifact Keeper node and against Debian's docker-registry (Distribution 2.8)
// in alternating order. Each round starts both registries empty, so every push really uploads
// every byte (skopeo would otherwise find the layers already there and skip them).
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { generateImage, type GeneratedImage } from './oci-image.ts'
import { MiB, MINUTE, measure, mustRun, ratio, round, summarize, versionOf, type Sample, type Summary } from './measure.ts'
import { AK_ADMIN, DISTRIBUTION_BIN, startAk, startDistribution, type Registry } from './registries.ts'

/** One skopeo copy may take this long before it counts as hung. */
const COPY_TIMEOUT = 10 * MINUTE
/** Image name on both registries; on the node its first segment is the repository. */
const IMAGE = 'bench/app'
const AK_REPOSITORY = 'bench'

export interface OciOptions {
  /** Rounds; each round pushes and pulls once per registry. */
  rounds: number
  layers: number
  layerMiB: number
  /** Scratch directory (removed by the caller). */
  work: string
  log: (line: string) => void
}

type Subject = 'ak' | 'distribution'

export interface OciResult {
  image: { layers: number; layerMiB: number; totalMiB: number }
  rounds: number
  clients: { skopeo: string; distribution: string }
  push: Record<Subject, Summary>
  pull: Record<Subject, Summary>
  goals: { name: string; value: string; goal: string; met: boolean }[]
}

export async function benchOci(options: OciOptions): Promise<OciResult> {
  for (const [bin, hint] of [
    ['/usr/bin/skopeo', 'apt-get install -y skopeo'],
    [DISTRIBUTION_BIN, 'apt-get install -y docker-registry'],
  ] as const) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: ${hint}`)
  }
  const home = join(options.work, 'home')
  mkdirSync(home, { recursive: true })
  // A private HOME: skopeo's auth file and caches stay in the scratch directory.
  const env = { ...process.env, HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: join(home, '.config'), REGISTRY_AUTH_FILE: join(home, 'auth.json') }
  const skopeo = (...args: string[]) => mustRun('skopeo', ['--insecure-policy', ...args], { env, timeoutMs: COPY_TIMEOUT })

  options.log(`oci: generating ${options.layers} × ${options.layerMiB} MiB layers…`)
  const image = await generateImage(join(options.work, 'image'), options.layers, options.layerMiB * MiB)
  options.log(`oci: image ${image.manifestDigest} (${(image.totalBytes / MiB).toFixed(1)} MiB)`)

  const samples: Record<'push' | 'pull', Record<Subject, Sample[]>> = {
    push: { ak: [], distribution: [] },
    pull: { ak: [], distribution: [] },
  }
  for (let r = 0; r < options.rounds; r++) {
    const order: Subject[] = r % 2 === 0 ? ['ak', 'distribution'] : ['distribution', 'ak']
    for (const subject of order) {
      const dir = join(options.work, `${subject}-${r}`)
      mkdirSync(dir, { recursive: true })
      const registry = subject === 'ak' ? await startAk(dir) : await startDistribution(dir)
      try {
        if (subject === 'ak') await createOciRepository(registry)
        const creds = subject === 'ak' ? [`${AK_ADMIN.user}:${AK_ADMIN.password}`] : []
        const dest = `docker://${registry.host}/${IMAGE}:${image.tag}`
        const push = await measure(registry.pid, async () => {
          await skopeo('copy', '--dest-tls-verify=false', ...(creds.length ? ['--dest-creds', creds[0] as string] : []), `oci:${image.dir}:${image.tag}`, dest)
        })
        const out = join(options.work, `pull-${subject}-${r}`)
        const pull = await measure(registry.pid, async () => {
          await skopeo('copy', '--src-tls-verify=false', ...(creds.length ? ['--src-creds', creds[0] as string] : []), dest, `oci:${out}:${image.tag}`)
        })
        checkPulled(out, image)
        rmSync(out, { recursive: true, force: true })
        samples.push[subject].push(push)
        samples.pull[subject].push(pull)
        options.log(
          `oci round ${r + 1}/${options.rounds} ${subject.padEnd(12)} push ${push.wallS.toFixed(2)} s (cpu ${push.cpuS.toFixed(2)} s)  pull ${pull.wallS.toFixed(2)} s (cpu ${pull.cpuS.toFixed(2)} s)`,
        )
      } finally {
        await registry.stop()
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }

  const push = { ak: summarize(samples.push.ak), distribution: summarize(samples.push.distribution) }
  const pull = { ak: summarize(samples.pull.ak), distribution: summarize(samples.pull.distribution) }
  const goal = (name: string, x: number, y: number, max: number) => ({
    name,
    value: ratio(x, y),
    goal: `≤ ${max.toFixed(2)}×`,
    met: x / y <= max,
  })
  return {
    image: { layers: options.layers, layerMiB: options.layerMiB, totalMiB: round(image.totalBytes / MiB, 1) },
    rounds: options.rounds,
    clients: { skopeo: versionOf('skopeo'), distribution: versionOf(DISTRIBUTION_BIN, ['--version']) },
    push,
    pull,
    goals: [
      goal('pull wall, ak / distribution', pull.ak.wallS, pull.distribution.wallS, 1.05),
      goal('pull registry CPU, ak / distribution', pull.ak.cpuS, pull.distribution.cpuS, 2),
      goal('push wall, ak / distribution', push.ak.wallS, push.distribution.wallS, 1.05),
      goal('push registry CPU, ak / distribution', push.ak.cpuS, push.distribution.cpuS, 2),
    ],
  }
}

async function createOciRepository(registry: Registry): Promise<void> {
  const res = await fetch(`${registry.url}/api/v1/repositories`, {
    method: 'POST',
    headers: { authorization: registry.auth as string, 'content-type': 'application/json' },
    body: JSON.stringify({ key: AK_REPOSITORY, format: 'oci', type: 'local' }),
  })
  if (res.status !== 201) throw new Error(`creating the OCI repository: ${res.status} ${await res.text()}`)
}

/** The pulled layout must name the pushed manifest and hold every layer at its full size. */
function checkPulled(dir: string, image: GeneratedImage): void {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }
  if (index.manifests[0]?.digest !== image.manifestDigest) {
    throw new Error(`pulled manifest ${index.manifests[0]?.digest} is not the pushed ${image.manifestDigest}`)
  }
  for (const layer of image.layers) {
    const file = join(dir, 'blobs', 'sha256', layer.digest.slice(7))
    if (!existsSync(file) || statSync(file).size !== layer.size) throw new Error(`pulled layer ${layer.digest} is missing or short`)
  }
}
