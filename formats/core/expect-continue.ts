import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/*
 * `Expect: 100-continue` (RFC 9110 §10.1.1) lets a client ask "may I send this body?" before
 * sending it. Node's HTTP server answers "100 Continue" by itself, before any handler runs,
 * unless a 'checkContinue' listener exists. Formats whose clients upload large files with that
 * header (Maven's wagon does on every PUT) want to refuse an unauthenticated or invalid upload
 * with its final status BEFORE the body is on the wire. deferContinue() installs one shared
 * listener per server: requests under a deferring plugin's prefix reach fastify without the
 * 100, and the handler calls sendContinue() once it has decided to read the body; every other
 * request gets the 100 at once, exactly as without the listener.
 */

const deferredPrefixes = new WeakMap<Server, string[]>()
const continued = new WeakSet<IncomingMessage>()

const EXPECT_CONTINUE = /^\s*100-continue\s*$/i

function underPrefix(url: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => url === p || url.startsWith(`${p}/`) || url.startsWith(`${p}?`))
}

/** Defers the automatic "100 Continue" for requests under this (encapsulated) plugin's prefix. */
export function deferContinue(app: FastifyInstance): void {
  const server = app.server as Server | undefined
  if (!server || typeof server.on !== 'function') return
  const prefix = app.prefix
  let prefixes = deferredPrefixes.get(server)
  if (!prefixes) {
    prefixes = []
    deferredPrefixes.set(server, prefixes)
    const list = prefixes
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      // Deferred requests go on without the 100; a handler that refuses one must close the
      // connection (Connection: close), or the body the client may still send would be parsed
      // as the next request.
      if (!underPrefix(req.url ?? '', list)) {
        continued.add(req)
        res.writeContinue()
      }
      server.emit('request', req, res)
    })
  }
  if (!prefixes.includes(prefix)) prefixes.push(prefix)
}

/** Whether the client is still waiting for "100 Continue" before it sends the body. */
export function awaitingContinue(request: FastifyRequest): boolean {
  const expect = request.headers.expect
  return typeof expect === 'string' && EXPECT_CONTINUE.test(expect) && !continued.has(request.raw)
}

/** Tells a client that sent `Expect: 100-continue` to go ahead with the body (idempotent). */
export function sendContinue(request: FastifyRequest, reply: FastifyReply): void {
  if (!awaitingContinue(request)) return
  continued.add(request.raw)
  const raw = reply.raw as ServerResponse
  if (typeof raw.writeContinue === 'function' && !raw.headersSent) raw.writeContinue()
}
