/**
 * The GET baseline: a bare fastify server whose routes stream one file with
 * fs.createReadStream, nothing else (no auth, no store, no metadata). Started by bench/run.ts as
 * a child process, like the node it is compared with. Prints `BARE_URL=<url>` once listening.
 *
 * usage: node bin/run-ts.mjs bench/bare-server.ts <file>
 */
import { createReadStream, statSync } from 'node:fs'
import Fastify from 'fastify'

const file = process.argv[2]
if (!file) {
  process.stderr.write('usage: bare-server.ts <file>\n')
  process.exit(2)
}
const size = statSync(file).size
const app = Fastify({ logger: false })
// /file: createReadStream's defaults (64 KiB reads); /file-1m: 1 MiB reads, the node's BLOB_IO_BUFFER.
for (const [route, highWaterMark] of [['/file', undefined], ['/file-1m', 1024 * 1024]] as const) {
  app.get(route, (_request, reply) => {
    reply.header('content-type', 'application/octet-stream').header('content-length', size)
    return reply.send(createReadStream(file, highWaterMark ? { highWaterMark } : {}))
  })
}
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`BARE_URL=${url}\n`)
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
