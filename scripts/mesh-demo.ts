/*
 * `npm run mesh:demo [-- --data ./demo-data] [--nodes 3]`: the topology of docker-compose.mesh.yml
 * without containers. Starts three `ak serve` processes on 127.0.0.1, joined into one closed mesh
 * by a freshly generated key (ak-2 and ak-3 bootstrap to ak-1), prints each node's URL, peer ID
 * and admin password, and stops them all on Ctrl-C. Data lives in a temp directory unless --data
 * names one (then key and password are kept there and reused on the next run).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { generateMeshKey } from '../mesh/index.ts'

const START_TIMEOUT = 60_000
const AK_BIN = resolve(import.meta.dirname, '..', 'bin', 'ak.mjs')

const { values } = parseArgs({ options: { data: { type: 'string' }, nodes: { type: 'string', default: '3' } } })
const count = Number(values.nodes)
if (!Number.isInteger(count) || count < 2 || count > 9) throw new Error('--nodes takes 2 to 9')
const root = values.data ? resolve(values.data) : mkdtempSync(join(tmpdir(), 'ak-mesh-demo-'))
mkdirSync(root, { recursive: true })

/** A file in the demo root, created once with `make()` and reused afterwards. */
function kept(name: string, make: () => string): string {
  const file = join(root, name)
  if (!existsSync(file)) writeFileSync(file, make(), { mode: 0o600 })
  return file
}
const keyFile = kept('mesh.key', () => `${generateMeshKey()}\n`)
const password = readFileSync(kept('admin-password', () => randomBytes(12).toString('base64url')), 'utf8').trim()
const auth = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`

interface DemoNode {
  name: string
  child: ChildProcess
  url: string
  peerId: string
  meshAddress: string
}

async function startNode(name: string, bootstrap: string | undefined): Promise<DemoNode> {
  const dataDir = join(root, name)
  const child = spawn(process.execPath, [AK_BIN, 'serve', '--host', '127.0.0.1', '--port', '0'], {
    env: {
      ...process.env,
      AK_DATA_DIR: dataDir,
      AK_ADMIN_PASSWORD: password,
      AK_LOG_LEVEL: 'info',
      AK_MESH_KEY_FILE: keyFile,
      AK_MESH_HOST: '127.0.0.1',
      AK_MESH_PORT: '0',
      AK_MESH_LABELS: `site=${name}`,
      ...(bootstrap ? { AK_MESH_BOOTSTRAP: bootstrap } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT} ms:\n${out}`)), START_TIMEOUT)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(out)
      if (m) {
        clearTimeout(timer)
        child.stdout?.off('data', onData)
        child.stdout?.resume()
        resolveUrl(m[1] as string)
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code}:\n${out}`))
    })
  })
  child.stderr?.resume()
  const res = await fetch(`${url}/api/v1/mesh/status`, { headers: { authorization: auth }, signal: AbortSignal.timeout(10_000) })
  const status = (await res.json()) as { peerId: string; addresses: string[] }
  return { name, child, url, peerId: status.peerId, meshAddress: status.addresses[0] as string }
}

const nodes: DemoNode[] = []
let stopping = false
async function stopAll(code: number): Promise<void> {
  if (stopping) return
  stopping = true
  process.stderr.write('\nstopping the demo nodes…\n')
  await Promise.all(
    nodes.map(
      (n) =>
        new Promise<void>((done) => {
          if (n.child.exitCode !== null || n.child.signalCode !== null) return done()
          const kill = setTimeout(() => n.child.kill('SIGKILL'), 15_000)
          n.child.once('exit', () => {
            clearTimeout(kill)
            done()
          })
          n.child.kill('SIGTERM')
        }),
    ),
  )
  if (!values.data) rmSync(root, { recursive: true, force: true })
  process.exit(code)
}
process.on('SIGINT', () => void stopAll(0))
process.on('SIGTERM', () => void stopAll(0))

try {
  const first = await startNode('ak-1', undefined)
  nodes.push(first)
  const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => startNode(`ak-${i + 2}`, first.meshAddress)))
  nodes.push(...rest)
} catch (err) {
  process.stderr.write(`mesh demo: ${(err as Error).message}\n`)
  await stopAll(1)
}
for (const n of nodes) {
  n.child.once('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`${n.name} exited (${code}); stopping the others\n`)
      void stopAll(1)
    }
  })
}

const [one, two] = nodes as [DemoNode, DemoNode]
process.stdout.write(
  [
    '',
    `Artifact Keeper mesh demo: ${nodes.length} nodes on 127.0.0.1, one closed mesh (key ${keyFile})`,
    `data in ${root}${values.data ? '' : ' (removed on exit)'}`,
    '',
    ...nodes.map((n) => `  ${n.name}  ${n.url.padEnd(24)}  peer ${n.peerId}  mesh ${n.meshAddress}`),
    '',
    `  user admin, password ${password}`,
    '',
    'try: publish on ak-1, list and fetch on ak-2',
    `  curl -u admin:${password} -X POST ${one.url}/api/v1/repositories -H 'content-type: application/json' -d '{"key":"files","format":"generic"}'`,
    `  curl -u admin:${password} -T README.md ${one.url}/generic/files/docs/README.md`,
    `  curl -u admin:${password} ${two.url}/generic/files/docs/`,
    `  curl -u admin:${password} ${two.url}/api/v1/replication/state`,
    '',
    'Ctrl-C stops every node.',
    '',
  ].join('\n'),
)
