import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`

export interface LyingRegistry {
  url: string
  /** The layer the tag's manifest names; the registry serves other bytes (of the same length) for it. */
  layerDigest: string
  /** A manifest digest the registry answers with bytes that hash to something else. */
  forgedManifestDigest: string
  /** Requests whose path equals `path`. */
  count(path: string): number
  close(): Promise<void>
}

/**
 * A tiny registry on 127.0.0.1 that lies: `lies/app:v1` is a well-formed manifest, but the layer
 * it names comes back as other bytes, and a manifest asked for by digest comes back forged. The
 * layer is large enough (640 KiB) that the edge has streamed most of it before it can tell.
 */
export async function startLyingRegistry(): Promise<LyingRegistry> {
  const layer = randomBytes(640 * 1024)
  const other = randomBytes(layer.length)
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }))
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  )
  const forgedManifestDigest = sha256(Buffer.from('the manifest that was asked for'))
  const seen: string[] = []
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string
    seen.push(path)
    const send = (status: number, body: Buffer, type: string) => res.writeHead(status, { 'content-type': type, 'content-length': body.length }).end(body)
    if (path === '/v2/') return send(200, Buffer.from('{}'), 'application/json')
    if (path === '/v2/lies/app/manifests/v1') return send(200, manifest, 'application/vnd.oci.image.manifest.v1+json')
    if (path === `/v2/lies/app/manifests/${forgedManifestDigest}`) return send(200, manifest, 'application/vnd.oci.image.manifest.v1+json')
    if (path === `/v2/lies/app/blobs/${sha256(config)}`) return send(200, config, 'application/octet-stream')
    if (path === `/v2/lies/app/blobs/${sha256(layer)}`) return send(200, other, 'application/octet-stream')
    send(404, Buffer.from('{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}'), 'application/json')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    layerDigest: sha256(layer),
    forgedManifestDigest,
    count: (p) => seen.filter((s) => s === p).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export interface TokenRegistry {
  url: string
  manifestDigest: string
  /** Requests whose path equals `path`. */
  count(path: string): number
  /** While down, every request (token service included) is answered 503. */
  setDown(down: boolean): void
  close(): Promise<void>
}

/**
 * A registry on 127.0.0.1 with Docker token auth whose tokens live one second: `/v2/` answers
 * 401 with a Bearer challenge, `/auth` hands out tokens, and `ns/app:v1` is served only to a
 * request bearing a live one.
 */
export async function startTokenRegistry(): Promise<TokenRegistry> {
  const config = Buffer.from('{}')
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: config.length },
      layers: [],
    }),
  )
  const live = new Map<string, number>()
  const seen: string[] = []
  let down = false
  let port = 0
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string
    seen.push(path)
    if (down) return void res.writeHead(503).end()
    if (path === '/auth') {
      const token = randomBytes(8).toString('hex')
      live.set(token, Date.now() + 1000)
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 1 }))
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (path === '/v2/' || !bearer || (live.get(bearer) ?? 0) < Date.now()) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/auth",service="token-registry"`, 'content-type': 'application/json' })
      return void res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}')
    }
    if (path === '/v2/ns/app/manifests/v1') {
      return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': manifest.length }).end(manifest)
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    manifestDigest: sha256(manifest),
    count: (p) => seen.filter((s) => s === p).length,
    setDown: (d) => {
      down = d
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
