import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { notModified } from '../core/index.ts'

/**
 * Sends a generated GOPROXY answer (@v/list, .info, @latest) with validators, so a go command
 * behind a caching proxy, or a remote repository on another node, revalidates it with a 304
 * instead of downloading it again: a strong ETag (the sha256 of the body, so any change to the
 * listed versions changes it) and Last-Modified (`lastModifiedMs`, the newest row the body was
 * made from). If-None-Match wins over If-Modified-Since, so a deleted version, which leaves no
 * newer row behind, is still caught by the ETag.
 */
export function sendGenerated(request: FastifyRequest, reply: FastifyReply, body: string, contentType: string, lastModifiedMs: number): FastifyReply {
  const etag = `"${createHash('sha256').update(body).digest('hex')}"`
  reply.headers({
    etag,
    'last-modified': new Date(Math.floor(lastModifiedMs / 1000) * 1000).toUTCString(),
    'cache-control': 'no-cache',
    'content-type': contentType,
  })
  if (notModified(request, etag, lastModifiedMs)) return reply.code(304).send()
  return reply.send(body)
}
