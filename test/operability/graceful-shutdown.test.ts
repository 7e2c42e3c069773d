import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'

/** A body that trickles `total` bytes in 256 KiB pieces, one every `intervalMs`. */
function trickle(total: number, intervalMs: number): { body: Readable; sha256: () => string } {
  const hash = createHash('sha256')
  let sent = 0
  const body = new Readable({
    read() {
      if (sent >= total) return void this.push(null)
      const n = Math.min(256 * 1024, total - sent)
      const piece = Buffer.alloc(n, sent % 251)
      sent += n
      hash.update(piece)
      setTimeout(() => this.push(piece), intervalMs)
    },
  })
  return { body, sha256: () => hash.digest('hex') }
}

async function createRepo(node: NodeProcess, key: string) {
  const res = await request(`${node.url}/api/v1/repositories`, {
    method: 'POST',
    headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
    body: JSON.stringify({ key, format: 'generic' }),
  })
  expect(res.statusCode).toBe(201)
  await res.body.dump()
}

describe('graceful shutdown', () => {
  let node: NodeProcess | undefined
  afterEach(async () => {
    await node?.kill()
    node = undefined
  })

  it('lets an upload in flight at SIGTERM finish and commit, then exits 0', async () => {
    node = await startNodeProcess({ env: { AK_SHUTDOWN_TIMEOUT_MS: '20000' } })
    await createRepo(node, 'files')
    const size = 8 * 1024 * 1024
    const { body, sha256 } = trickle(size, 40) // about 1.3 s of upload
    const upload = request(`${node.url}/generic/files/in-flight.bin`, {
      method: 'PUT',
      headers: { authorization: node.adminAuth, 'content-length': String(size) },
      body,
    })
    await sleep(300)
    const exited = new Promise<number | null>((r) => node?.child.once('exit', (code) => r(code)))
    node.child.kill('SIGTERM')
    const res = await upload
    expect(res.statusCode).toBe(201)
    const json = (await res.body.json()) as { checksums: { sha256: string } }
    expect(json.checksums.sha256).toBe(sha256())
    expect(await exited).toBe(0)

    // The committed upload survives the restart.
    const again = await startNodeProcess({ dataDir: node.dataDir })
    node = again
    const get = await request(`${again.url}/generic/files/in-flight.bin`, { headers: { authorization: again.adminAuth } })
    expect(get.statusCode).toBe(200)
    const h = createHash('sha256')
    for await (const chunk of get.body) h.update(chunk as Buffer)
    expect(h.digest('hex')).toBe(json.checksums.sha256)
  })

  it('bounds the wait: a stalled transfer is cut after shutdownTimeoutMs and the node still exits', async () => {
    node = await startNodeProcess({ env: { AK_SHUTDOWN_TIMEOUT_MS: '1500', AK_BODY_IDLE_TIMEOUT_MS: '600000' } })
    await createRepo(node, 'files')
    // Announce 10 MiB, send 1 MiB, then stall forever.
    const stalled = new Readable({ read() {} })
    stalled.push(Buffer.alloc(1024 * 1024))
    const upload = request(`${node.url}/generic/files/stalled.bin`, {
      method: 'PUT',
      headers: { authorization: node.adminAuth, 'content-length': String(10 * 1024 * 1024) },
      body: stalled,
    }).catch((err: Error) => err)
    await sleep(300)
    const started = Date.now()
    const exited = new Promise<number | null>((r) => node?.child.once('exit', (code) => r(code)))
    node.child.kill('SIGTERM')
    expect(await exited).toBe(0)
    const took = Date.now() - started
    expect(took).toBeGreaterThanOrEqual(1400)
    expect(took).toBeLessThan(10_000)
    stalled.destroy()
    expect(await upload).toBeInstanceOf(Error)
  })
})
