import { readFile, rename, writeFile } from 'node:fs/promises'
import { InvalidArgumentError, type Command } from 'commander'
import cliProgress from 'cli-progress'
import { loadConfig, type Config } from './config.ts'
import { openDataDir } from './open.ts'
import { lockDataDir } from './data-dir.ts'

/*
 * `ak export` and `ak import`: air-gapped sync by a carried, signed bundle (docs/airgap.md).
 * Both work on a data directory. Export only reads (SQLite WAL), so it may run beside a serving
 * node; import takes the data-dir lock, so it refuses while `ak serve` runs on that directory.
 */

const MiB = 1024 * 1024
const human = (bytes: number) => (bytes < MiB ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / MiB).toFixed(1)} MiB`)
const commaList = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean)

function configOf(cmd: Command): Config {
  const g = cmd.optsWithGlobals() as { config?: string; dataDir?: string }
  return loadConfig({ file: g.config, flags: { dataDir: g.dataDir } })
}

/** A byte progress bar on stderr; silent when stderr is not a terminal (logs, CI). */
function progressBar(total: number): { update(n: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: ' {bar} {percentage}% | {done} of {all}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  )
  bar.start(Math.max(total, 1), 0, { done: human(0), all: human(total) })
  return {
    update: (n) => bar.update(Math.min(n, total), { done: human(n), all: human(total) }),
    stop: () => bar.stop(),
  }
}

async function readCursor(file: string): Promise<Record<string, number>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`ak export: cursor ${file} does not exist yet: exporting everything\n`)
      return {}
    }
    throw new InvalidArgumentError(`cannot read cursor ${file}: ${(err as Error).message}`)
  }
  const { cursorFile } = await import('./bundle/index.ts')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new InvalidArgumentError(`cursor ${file} is not JSON`)
  }
  const r = cursorFile.safeParse(parsed)
  if (!r.success) throw new InvalidArgumentError(`cursor ${file} is not a version vector ({"versionVector": {"PEER_ID": seq}})`)
  return 'versionVector' in r.data && typeof r.data.versionVector === 'object' ? (r.data.versionVector as Record<string, number>) : (r.data as Record<string, number>)
}

/** Prints a BundleError as one line and exits 1; anything else propagates. */
async function reportBundleErrors(fn: () => Promise<void>): Promise<void> {
  const { BundleError } = await import('./bundle/index.ts')
  try {
    await fn()
  } catch (err) {
    if (!(err instanceof BundleError)) throw err
    process.stderr.write(`ak: ${err.message} [${err.code}]\n`)
    process.exitCode = 1
  }
}

export function registerBundleCommands(program: Command): void {
  program
    .command('export')
    .description('write a signed bundle of the replication log since a cursor and the blobs it references (air gap)')
    .requiredOption('-o, --out <file>', 'the bundle file to write')
    .option('--repos <keys>', 'only these repositories, comma-separated (default: every repository that is not local-only)', commaList)
    .option('--since <cursorFile>', 'export only events after the version vector in this file (default: everything)')
    .option('--write-cursor <cursorFile>', 'after a successful export, write the bundle\'s end vector here (the next --since)')
    .option('--json', 'print a JSON summary on stdout', false)
    .action(async (opts: { out: string; repos?: string[]; since?: string; writeCursor?: string; json: boolean }, cmd: Command) => {
      const config = configOf(cmd)
      const since = opts.since ? await readCursor(opts.since) : {}
      const { store, identity } = await openDataDir(config)
      const { createEventSigner } = await import('../mesh/index.ts')
      const { exportBundle } = await import('./bundle/index.ts')
      let bar: ReturnType<typeof progressBar> | undefined
      try {
        await reportBundleErrors(async () => {
          const result = await exportBundle(
            { store, peerId: identity.peerId, sign: createEventSigner(identity.privateKey) },
            {
              out: opts.out,
              repos: opts.repos,
              since,
              onPlan: (p) => {
                process.stderr.write(`ak export: ${p.events} events, ${p.blobs} blobs (${human(p.blobBytes)}): about ${human(p.estimatedBytes)} to write\n`)
                bar = progressBar(p.estimatedBytes)
              },
              onProgress: (n) => bar?.update(n),
            },
          )
          bar?.stop()
          if (opts.writeCursor) {
            const temp = `${opts.writeCursor}.tmp`
            await writeFile(temp, `${JSON.stringify({ versionVector: result.to, bundle: result.sha256, created: new Date().toISOString() }, null, 2)}\n`)
            await rename(temp, opts.writeCursor)
          }
          if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
          else {
            process.stdout.write(
              `wrote ${result.file}: ${result.events} events, ${result.blobs} blobs, ${human(result.bytes)}, signed by ${result.peerId}\n` +
                `sha256 ${result.sha256}\n` +
                (result.complete ? '' : 'note: filtered bundle (--repos or local-only repositories left out): see docs/airgap.md\n'),
            )
          }
        })
      } finally {
        bar?.stop()
        store.close()
      }
    })

  program
    .command('import <file>')
    .description('verify a bundle (signature, digests, event signatures) and apply it to this data directory; refuses while `ak serve` runs on it')
    .option('--trust <peerIds>', 'peer IDs whose bundles are accepted, comma-separated (added to mesh.allow)', commaList, [])
    .option('--dry-run', 'verify and list what would change; store and apply nothing', false)
    .option('--json', 'print a JSON summary on stdout', false)
    .action(async (file: string, opts: { trust: string[]; dryRun: boolean; json: boolean }, cmd: Command) => {
      const config = configOf(cmd)
      const unlock = lockDataDir(config.dataDir)
      const { store } = await openDataDir(config).catch((err: unknown) => {
        unlock()
        throw err
      })
      const { importBundle } = await import('./bundle/index.ts')
      // The formats' hooks: their index tables follow the import, and names they refuse stay out (as over mesh sync).
      const { formatReplicationHooks } = await import('./formats.ts')
      let bar: ReturnType<typeof progressBar> | undefined
      try {
        await reportBundleErrors(async () => {
          const r = await importBundle(
            { store, hooks: formatReplicationHooks({ db: store.db, pointers: store.pointers }) },
            {
              file,
              trust: [...opts.trust, ...config.mesh.allow],
              dryRun: opts.dryRun,
              onHeader: (h, bytes) => {
                process.stderr.write(`ak import: bundle from ${h.peerId} (${h.created}): ${h.counts.events} events, ${h.counts.blobs} blobs, ${human(bytes)}\n`)
                bar = progressBar(bytes)
              },
              onProgress: (n) => bar?.update(n),
            },
          )
          bar?.stop()
          if (opts.json) {
            process.stdout.write(`${JSON.stringify(r, null, 2)}\n`)
            return
          }
          const lines = [
            `${r.dryRun ? 'dry run: nothing changed. ' : ''}bundle verified (signed by ${r.bundle.peerId})`,
            `events: ${r.events.new} new, ${r.events.alreadyHeld} already held`,
            `repositories: ${r.repositories.created.length} created${r.repositories.created.length ? ` (${r.repositories.created.join(', ')})` : ''}, ${r.repositories.deleted.length} deleted`,
            `artifacts: ${r.artifacts.added} added, ${r.artifacts.changed} changed, ${r.artifacts.removed} removed`,
            ...r.artifacts.list.added.map((p) => `  + ${p}`),
            ...r.artifacts.list.changed.map((p) => `  ~ ${p}`),
            ...r.artifacts.list.removed.map((p) => `  - ${p}`),
            `blobs: ${r.blobs.stored} ${r.dryRun ? 'to store' : 'stored'} (${human(r.blobs.bytesStored)}), ${r.blobs.alreadyStored} already stored`,
            `replication state ${r.state.before.slice(0, 16)} -> ${r.state.after.slice(0, 16)}`,
          ]
          if (!r.bundle.complete) lines.push('note: a filtered bundle (not every event of its origins): see docs/airgap.md before joining this node to a mesh')
          process.stdout.write(`${lines.join('\n')}\n`)
        })
      } finally {
        bar?.stop()
        store.close()
        unlock()
      }
    })
}
