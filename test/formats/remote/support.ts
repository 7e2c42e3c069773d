import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the proxy forwarded (or refused), as the upstream saw it. */
export interface SeenRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  status: number
}

export interface CountingProxy {
  url: string
  seen: SeenRequest[]
  /** Requests whose path (query removed) equals or ends with `suffix`. */
  count(suffix: string, method?: string): number
  /** While down, every request gets 503 without reaching the target. */
  setDown(down: boolean): void
  close(): Promise<void>
}

/**
 * A small HTTP forward proxy on 127.0.0.1 in front of an upstream node: it records every request
 * (method, path, headers, the status the upstream answered) so a test can count what really
 * reached the upstream, and can play an upstream outage.
 */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const t = new URL(target)
  const seen: SeenRequest[] = []
  let down = false
  const server: Server = createServer((req, res) => {
    const entry: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, status: 0 }
    seen.push(entry)
    if (down) {
      entry.status = 503
      res.writeHead(503, { 'content-type': 'text/plain' }).end('down for the test\n')
      return
    }
    const up = httpRequest(
      // The Host header stays the proxy's, so the upstream node writes URLs that lead back through it.
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        entry.status = upRes.statusCode ?? 0
        res.writeHead(upRes.statusCode ?? 502, upRes.headers)
        upRes.pipe(res)
      },
    )
    up.on('error', () => {
      entry.status = 502
      if (!res.headersSent) res.writeHead(502).end()
      else res.destroy()
    })
    req.pipe(up)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    count: (suffix, method = 'GET') => seen.filter((s) => s.method === method && s.url.split('?')[0]?.endsWith(suffix)).length,
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

/** Polls `check` until it returns true (or throws after `timeoutMs`). */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}
