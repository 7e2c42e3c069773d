// A forward HTTP proxy on 127.0.0.1 in front of the upstream node that meters what crosses "the
// WAN": every request the edges make to the upstream, and the response body bytes it returns.
// The edges' remote repositories point at this proxy, never at the upstream itself.
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One upstream request as the meter saw it. */
export interface MeteredRequest {
  method: string
  url: string
  /** The Accept header: npm's abbreviated and full packuments share a URL. */
  accept: string
  status: number
  /** Response body bytes sent to the edge. */
  bytes: number
}

export interface UpstreamMeter {
  url: string
  /** Every request so far, in arrival order (filled in when its response ends). */
  requests: MeteredRequest[]
  close(): Promise<void>
}

export async function startUpstreamMeter(target: string): Promise<UpstreamMeter> {
  const t = new URL(target)
  const requests: MeteredRequest[] = []
  const server: Server = createServer((req, res) => {
    const entry: MeteredRequest = { method: req.method ?? 'GET', url: req.url ?? '/', accept: String(req.headers.accept ?? ''), status: 0, bytes: 0 }
    const up = httpRequest(
      // The Host header stays the meter's: the upstream writes tarball URLs that lead back through it.
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        entry.status = upRes.statusCode ?? 0
        res.writeHead(upRes.statusCode ?? 502, upRes.headers)
        upRes.on('data', (c: Buffer) => (entry.bytes += c.length))
        upRes.once('end', () => requests.push(entry))
        upRes.pipe(res)
      },
    )
    up.on('error', () => {
      entry.status = 502
      requests.push(entry)
      if (!res.headersSent) res.writeHead(502).end()
      else res.destroy()
    })
    req.pipe(up)
  })
  // Many keep-alive connections from three edges: no idle cut during a long run.
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** What a set of upstream requests cost. */
export interface UpstreamCost {
  requests: number
  bytes: number
  /** Distinct documents fetched (URL + Accept), with 2xx answers. */
  uniqueDocuments: number
  /** Body bytes of each distinct document once (its largest 2xx answer). */
  uniqueBytes: number
}

export function upstreamCost(requests: readonly MeteredRequest[]): UpstreamCost {
  const unique = new Map<string, number>()
  let bytes = 0
  for (const r of requests) {
    bytes += r.bytes
    if (r.status < 200 || r.status >= 300) continue
    const key = `${r.accept.includes('application/vnd.npm.install-v1+json') ? 'abbreviated' : 'full'} ${r.url}`
    unique.set(key, Math.max(unique.get(key) ?? 0, r.bytes))
  }
  return { requests: requests.length, bytes, uniqueDocuments: unique.size, uniqueBytes: [...unique.values()].reduce((a, b) => a + b, 0) }
}
