import { createHash } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryDriver, openStore, type Store } from '../../store/index.ts'
import {
  createMeshContent,
  createMeshHost,
  encodeHave,
  generateMeshKey,
  HAVE_PROTOCOL,
  loadOrCreateIdentity,
  parseMeshKey,
  PENALTY,
  type MeshContent,
  type MeshHost,
} from '../../mesh/index.ts'
import { tempDir } from '../helpers/node-process.ts'
import { waitFor } from './mesh-helpers.ts'

/*
 * The have protocol between real libp2p hosts in this process: a node running content location
 * over a real SQLite store, and a raw peer that speaks (or mangles) /ak/have/1.0.0 by hand.
 */

const digest = (s: string) => createHash('sha256').update(s).digest('hex')
const hosts: MeshHost[] = []
const contents: MeshContent[] = []
const stores: Store[] = []
afterEach(async () => {
  for (const c of contents.splice(0)) c.stop()
  await Promise.all(hosts.splice(0).map((h) => h.stop()))
  for (const s of stores.splice(0)) s.close()
})

async function host(psk: Uint8Array, bootstrap: string[] = []): Promise<MeshHost> {
  const h = createMeshHost({ identity: await loadOrCreateIdentity(tempDir('ak-have-')), port: 0, psk, bootstrap })
  await h.start()
  hosts.push(h)
  return h
}

async function contentNode(psk: Uint8Array, init: Parameters<typeof createMeshContent>[1] = {}, bootstrap: string[] = []) {
  const store = openStore({ dataDir: tempDir('ak-have-'), driver: createMemoryDriver(), nodeId: 'n' })
  stores.push(store)
  const h = await host(psk, bootstrap)
  const content = createMeshContent({ host: h, holdings: store.holdings }, { pollIntervalMs: 50, ...init })
  await content.start()
  contents.push(content)
  return { host: h, store, content }
}

function recordBlob(store: Store, sha256: string): void {
  store.blobIndex.record({ sha256, size: 1, sha1: 'a'.repeat(40), md5: 'b'.repeat(32), sha512: 'c'.repeat(128), chunkManifest: Buffer.alloc(32) })
}

/** Resolves with how the stream ended from our side: 'reset' when the remote reset it. */
async function endOf(stream: Awaited<ReturnType<MeshHost['openStream']>>): Promise<string> {
  try {
    for await (const _ of stream) void _
    return 'closed'
  } catch (err) {
    return `reset: ${(err as Error).name}`
  }
}

describe('the have protocol (/ak/have/1.0.0)', () => {
  it('a malformed have message resets the stream and penalises the sender', async () => {
    const psk = parseMeshKey(generateMeshKey())
    const node = await contentNode(psk)
    const raw = await host(psk, [node.host.addresses()[0] as string])
    await waitFor('connected', async () => node.host.connectedPeers().includes(raw.peerId))
    const stream = await raw.openStream(node.host.peerId, HAVE_PROTOCOL, AbortSignal.timeout(5000))
    const lp = lpStream(stream)
    const ended = endOf(stream)
    await lp.write(new TextEncoder().encode('{"type":"summary","blobs":"many"}'))
    expect(await Promise.race([ended, new Promise((r) => setTimeout(() => r('still open'), 5000))])).toMatch(/^reset/)
    await waitFor('the sender is penalised', async () => node.host.penalties.score(raw.peerId) >= PENALTY.malformed, 3000, 50)
    expect(node.content.peerInfo(raw.peerId)).toBeUndefined()
  })

  it('an oversized have message resets the stream and penalises the sender', async () => {
    const psk = parseMeshKey(generateMeshKey())
    const node = await contentNode(psk)
    const raw = await host(psk, [node.host.addresses()[0] as string])
    await waitFor('connected', async () => node.host.connectedPeers().includes(raw.peerId))
    const stream = await raw.openStream(node.host.peerId, HAVE_PROTOCOL, AbortSignal.timeout(5000))
    const ended = endOf(stream)
    // A length prefix announcing 64 MiB: refused before a byte of the body is buffered.
    stream.send(new Uint8Array([0x80, 0x80, 0x80, 0x20]))
    expect(await Promise.race([ended, new Promise((r) => setTimeout(() => r('still open'), 5000))])).toMatch(/^reset/)
    await waitFor('the sender is penalised', async () => node.host.penalties.score(raw.peerId) >= PENALTY.malformed, 3000, 50)
  })

  it('a delta before any summary is refused', async () => {
    const psk = parseMeshKey(generateMeshKey())
    const node = await contentNode(psk)
    const raw = await host(psk, [node.host.addresses()[0] as string])
    await waitFor('connected', async () => node.host.connectedPeers().includes(raw.peerId))
    const stream = await raw.openStream(node.host.peerId, HAVE_PROTOCOL, AbortSignal.timeout(5000))
    const ended = endOf(stream)
    await lpStream(stream).write(encodeHave({ type: 'delta', add: [digest('x')], remove: [], load: 0 }))
    expect(await Promise.race([ended, new Promise((r) => setTimeout(() => r('still open'), 5000))])).toMatch(/^reset/)
    await waitFor('the sender is penalised', async () => node.host.penalties.score(raw.peerId) >= PENALTY.malformed, 3000, 50)
  })

  it('peers learn each other\'s blobs, labels and load, and forget a blob once it is deleted', async () => {
    const psk = parseMeshKey(generateMeshKey())
    let load = 0
    const a = await contentNode(psk, { labels: { region: 'eu', site: 'lab' }, load: () => load })
    const held = digest('held before start')
    recordBlob(a.store, held)
    const b = await contentNode(psk, {}, [a.host.addresses()[0] as string])
    await waitFor('B has A\'s summary', async () => b.content.peerInfo(a.host.peerId))
    await waitFor('B sees the blob A held', async () => b.content.summaryHolders(held).includes(a.host.peerId), 3000, 50)
    expect(b.content.peerInfo(a.host.peerId)?.labels).toEqual({ region: 'eu', site: 'lab' })
    expect(b.content.summaryHolders(digest('never held'))).toEqual([])

    const fresh = digest('committed later')
    recordBlob(a.store, fresh)
    await waitFor('a delta announces the new blob', async () => b.content.summaryHolders(fresh).includes(a.host.peerId), 3000, 50)
    load = 7
    await waitFor('the load change is advertised', async () => b.content.peerInfo(a.host.peerId)?.load === 7, 3000, 50)

    a.store.blobIndex.forget(fresh)
    await waitFor('a delta withdraws the deleted blob', async () => !b.content.summaryHolders(fresh).includes(a.host.peerId), 3000, 50)
    expect(b.content.summaryHolders(held)).toContain(a.host.peerId)

    await a.host.stop()
    await waitFor('B drops what A told it once A is gone', async () => b.content.peerInfo(a.host.peerId) === undefined, 5000, 50)
  })
})
