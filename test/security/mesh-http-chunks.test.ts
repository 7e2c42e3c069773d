// Hole (issue 11, part 7): a node on the mesh allowlist but without the mesh (pnet) key could read
// chunks over the HTTP chunk transport, though libp2p gives it no connection at all.
import { createHash, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  PEER_TOKEN_HEADER,
  createHttpChunkSource,
  createPeerTokenSigner,
  ed25519PrivateKeyObject,
  generateMeshKey,
  loadOrCreateIdentity,
  parseMeshKey,
  type NodeIdentity,
} from '../../mesh/index.ts'
import { SourceError } from '../../scheduler/index.ts'
import { CHUNK_SIZE } from '../../store/index.ts'
import { tempDir, type NodeProcess } from '../helpers/node-process.ts'
import { api, meshStatus, startMeshNode } from '../mesh/mesh-helpers.ts'

const signal = () => AbortSignal.timeout(15_000)
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe('the HTTP chunk routes ask for the same membership proof as libp2p (the mesh key)', () => {
  const key = generateMeshKey()
  const psk = parseMeshKey(key)
  const dirs: string[] = []
  let node: NodeProcess
  let nodeId: string
  /** On the allowlist, holds the mesh key. */
  let member: NodeIdentity
  /** On the allowlist, valid node key, no mesh key: the hole. */
  let outsider: NodeIdentity
  /** On the allowlist, holds another mesh's key. */
  let impostor: NodeIdentity
  /** Holds the mesh key, not on the allowlist. */
  let stranger: NodeIdentity
  const bytes = randomBytes(2 * CHUNK_SIZE + 1000)
  const digest = sha256(bytes)

  const identity = async (): Promise<NodeIdentity> => {
    const dir = tempDir('ak-sec-mesh-')
    dirs.push(dir)
    return loadOrCreateIdentity(dir)
  }

  beforeAll(async () => {
    ;[member, outsider, impostor, stranger] = await Promise.all([identity(), identity(), identity(), identity()])
    node = await startMeshNode({ AK_MESH_KEY: key, AK_MESH_ALLOW: [member, outsider, impostor].map((i) => i.peerId).join(',') })
    nodeId = (await meshStatus(node)).peerId
    expect((await api(node, '/api/v1/repositories', { method: 'POST', body: JSON.stringify({ key: 'files', format: 'generic' }) })).status).toBe(201)
    const put = await fetch(`${node.url}/generic/files/blob.bin`, {
      method: 'PUT',
      body: bytes,
      headers: { authorization: node.adminAuth, 'content-type': 'application/octet-stream' },
      signal: signal(),
    })
    expect(put.status).toBeLessThan(300)
  }, 60_000)
  afterAll(async () => {
    await node?.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  const routes = () => [`${digest}/manifest`, `${digest}/have`, `${digest}/chunks/0`]
  const get = async (token: string, route: string) => {
    const res = await fetch(`${node.url}/api/v1/chunks/${route}`, { headers: { [PEER_TOKEN_HEADER]: token }, signal: signal() })
    return { status: res.status, body: (await res.json().catch(() => ({}))) as { error?: string; message?: string } }
  }

  it('a node on the allowlist with a valid node key but without the mesh key gets 403 from every chunk route', async () => {
    const token = await createPeerTokenSigner(outsider).token(nodeId)
    for (const route of routes()) {
      const r = await get(token, route)
      expect(r.status, route).toBe(403)
      expect(r.body.error).toBe('AK_FORBIDDEN')
      expect(r.body.message).toContain('mesh key')
    }
    // The node's own HTTP chunk source is refused the same way (the scheduler falls back to libp2p).
    const source = createHttpChunkSource({ identity: outsider, peerId: nodeId, baseUrl: node.url })
    const err = await source.fetchChunk(digest, 0, signal()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SourceError)
    expect((err as SourceError).reason).toBe('refused')
  })

  it('nor can it mint a mac of its own: a made-up mac, or one made with another mesh key, is refused (403)', async () => {
    const now = Math.floor(Date.now() / 1000)
    const forged = await new SignJWT({ mac: randomBytes(32).toString('base64url') })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(outsider.peerId)
      .setAudience(nodeId)
      .setIssuedAt(now)
      .setExpirationTime(now + 30)
      .setJti('forged-mac')
      .sign(ed25519PrivateKeyObject(outsider.privateKey))
    expect((await get(forged, routes()[2] as string)).status).toBe(403)
    const otherMesh = await createPeerTokenSigner(impostor, { psk: parseMeshKey(generateMeshKey()) }).token(nodeId)
    for (const route of routes()) expect((await get(otherMesh, route)).status, route).toBe(403)
  })

  it("a member's token with a valid mac cannot be re-signed by a non-member (the mac names its issuer)", async () => {
    const real = await createPeerTokenSigner(member, { psk }).token(nodeId)
    const claims = JSON.parse(Buffer.from(real.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>
    const stolen = await new SignJWT({ ...claims, iss: outsider.peerId }).setProtectedHeader({ alg: 'EdDSA' }).sign(ed25519PrivateKeyObject(outsider.privateKey))
    expect((await get(stolen, routes()[2] as string)).status).toBe(403)
  })

  it('the mesh key without a place on the allowlist is not enough either (403)', async () => {
    const token = await createPeerTokenSigner(stranger, { psk }).token(nodeId)
    expect((await get(token, routes()[2] as string)).status).toBe(403)
  })

  it('a member (on the allowlist, with the mesh key) reads the manifest, the have-map and every chunk', async () => {
    const token = await createPeerTokenSigner(member, { psk }).token(nodeId)
    for (const route of routes()) expect((await get(token, route)).status, route).toBe(200)
    const source = createHttpChunkSource({ identity: member, peerId: nodeId, baseUrl: node.url, psk })
    expect(await source.have(digest, signal())).toBe('all')
    const manifest = await source.manifest(digest, signal())
    expect(manifest?.chunks.length).toBe(3)
    const parts: Uint8Array[] = []
    for (let i = 0; i < 3; i++) parts.push(await source.fetchChunk(digest, i, signal()))
    expect(sha256(Buffer.concat(parts))).toBe(digest)
  })
})
