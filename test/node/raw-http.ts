/**
 * A deliberately dumb HTTP/1.1 client over a plain TCP socket: it sends exactly the bytes it is
 * given (no path normalisation, any Content-Length) and collects whatever comes back until the
 * server closes the connection or the deadline passes.
 */
import { connect, type Socket } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

export interface RawExchange {
  /** Every byte received, as text. */
  text: string
  /** Responses parsed from `text`, in order (Content-Length framed bodies). */
  responses: RawResponse[]
  /** Whether the server closed the connection before the deadline. */
  closedByServer: boolean
}

export function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = []
  let rest = text
  while (rest.startsWith('HTTP/1.')) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) break
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n')
    const headers: Record<string, string> = {}
    for (const l of lines) {
      const i = l.indexOf(':')
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
    }
    const length = Number(headers['content-length'] ?? 0)
    const body = rest.slice(end + 4, end + 4 + length)
    out.push({ status: Number(statusLine?.split(' ')[1]), headers, body })
    rest = rest.slice(end + 4 + length)
  }
  return out
}

export interface RawOptions {
  /** Called once connected; write the request yourself (default: write `request` and keep the socket open). */
  drive?: (socket: Socket, answered: () => boolean) => void | Promise<void>
  /** Give up waiting for the server to close after this long. @default 10_000 */
  timeoutMs?: number
}

export function rawExchange(url: string, request: string | Buffer | undefined, options: RawOptions = {}): Promise<RawExchange> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) })
    const received: Buffer[] = []
    let done = false
    const finish = (closedByServer: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(received).toString('utf8')
      resolve({ text, responses: parseResponses(text), closedByServer })
    }
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 10_000)
    socket.on('data', (d: Buffer) => received.push(d))
    socket.on('end', () => finish(true))
    socket.on('close', () => finish(true))
    // The server may close while we still write (it refused the body): keep what it said.
    socket.on('error', () => {})
    socket.on('connect', () => {
      if (request !== undefined) socket.write(request)
      void options.drive?.(socket, () => received.length > 0)
    })
  })
}

/** A request head with CRLFs; `headers` after the Host line. */
export function head(method: string, target: string, headers: Record<string, string | number> = {}): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  return `${lines.join('\r\n')}\r\n\r\n`
}
