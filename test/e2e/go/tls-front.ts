import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { tempDir } from '../../helpers/node-process.ts'

/**
 * An HTTPS front for a node on loopback, as a TLS-terminating reverse proxy would be in
 * production. The go command sends credentials (GOPROXY userinfo, ~/.netrc) only over https,
 * so credential tests go through this; the go command trusts its self-signed certificate via
 * SSL_CERT_FILE. Bodies are piped both ways (streamed).
 */
export interface TlsFront {
  /** https://127.0.0.1:PORT */
  url: string
  /** PEM file of the self-signed certificate (for SSL_CERT_FILE). */
  certFile: string
  close(): Promise<void>
}

export async function startTlsFront(targetUrl: string): Promise<TlsFront> {
  const dir = tempDir('ak-tls-')
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore', timeout: 30_000 },
  )
  const target = new URL(targetUrl)
  const server: Server = createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, (req, res) => {
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}`,
    certFile,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
