import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { notModified } from '../core/index.ts'
import type { IndexEntry } from './metadata.ts'
import type { StoredVersion } from './crate-store.ts'

/**
 * Renders a crate's index file: one JSON object per line, one line per version.
 * https://doc.rust-lang.org/cargo/reference/registry-index.html#json-schema
 */
export function renderIndexFile(versions: StoredVersion[]): string {
  return versions.map((v) => `${JSON.stringify(indexLine(v.entry))}\n`).join('')
}

/** The fields in the order the cargo book lists them; optional ones only when set. */
function indexLine(e: IndexEntry): IndexEntry {
  const line: IndexEntry = {
    name: e.name,
    vers: e.vers,
    deps: e.deps,
    cksum: e.cksum,
    features: e.features,
    yanked: e.yanked,
    links: e.links ?? null,
  }
  if (e.features2) line.features2 = e.features2
  if (e.v !== undefined) line.v = e.v
  if (e.rust_version !== undefined) line.rust_version = e.rust_version
  return line
}

/**
 * Sends generated metadata with a content ETag and Last-Modified, answering 304 to cargo's
 * revalidation (If-None-Match / If-Modified-Since).
 */
export function sendGenerated(
  request: FastifyRequest,
  reply: FastifyReply,
  body: string,
  contentType: string,
  lastModifiedMs: number,
): FastifyReply {
  const etag = `"${createHash('sha256').update(body).digest('hex')}"`
  const lastModified = new Date(Math.floor(lastModifiedMs / 1000) * 1000)
  reply.headers({ etag, 'last-modified': lastModified.toUTCString(), 'cache-control': 'no-cache', 'content-type': contentType })
  if (notModified(request, etag, lastModified.getTime())) return reply.code(304).send()
  return reply.send(body)
}
