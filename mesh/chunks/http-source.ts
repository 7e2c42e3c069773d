import { request, type Dispatcher } from 'undici'
import { z } from 'zod'
import { SourceError, type ChunkManifest, type ChunkSource, type HaveMap } from '../../scheduler/index.ts'
import type { NodeIdentity } from '../identity.ts'
import { CHUNK_IDLE_TIMEOUT, MAX_CHUNK_BYTES, MAX_CHUNK_RESPONSE_BYTES, PEER_TOKEN_HEADER } from './constants.ts'
import { ChunkProtocolError, haveFromWire, manifestFromWire, parse, wireHave, wireManifest } from './messages.ts'
import { createPeerTokenSigner, type PeerTokenSigner } from './peer-token.ts'

export interface HttpChunkSourceInit {
  /** This node's identity: signs the peer tokens. */
  identity: NodeIdentity
  /** The serving peer (the token's audience). */
  peerId: string
  /** The serving node's HTTP base URL (as it advertises it), without /api/v1. */
  baseUrl: string
  /** Shares minted tokens between sources. @default a signer of this source's own (with `psk`) */
  signer?: PeerTokenSigner
  /** The mesh key (pnet v1 bytes), which a closed mesh's nodes ask tokens to prove. Used only without `signer`. @default none */
  psk?: Uint8Array
  /** @default undici's global dispatcher */
  dispatcher?: Dispatcher
  /** Headers, then each body read, must arrive within this. @default CHUNK_IDLE_TIMEOUT (15 s) */
  idleTimeoutMs?: number
}

/** A mesh peer's HTTP port as a chunk source: GET /api/v1/chunks/… with a token signed by this node. */
export function createHttpChunkSource(init: HttpChunkSourceInit): ChunkSource {
  return new HttpChunkSource(init)
}

const haveBody = z.object({ have: wireHave }).strict()

class HttpChunkSource implements ChunkSource {
  readonly id: string
  readonly kind = 'http' as const
  readonly peerId: string
  private readonly base: string
  private readonly signer: PeerTokenSigner
  private readonly idleMs: number

  constructor(private readonly init: HttpChunkSourceInit) {
    this.peerId = init.peerId
    this.id = `http:${init.peerId}`
    this.base = `${init.baseUrl.replace(/\/+$/, '')}/api/v1/chunks`
    this.signer = init.signer ?? createPeerTokenSigner(init.identity, init.psk ? { psk: init.psk } : {})
    this.idleMs = init.idleTimeoutMs ?? CHUNK_IDLE_TIMEOUT
  }

  /** GET `path`; the response (status < 500) is handed to `body`, every failure becomes a SourceError. */
  private async get<T>(path: string, signal: AbortSignal, body: (res: Dispatcher.ResponseData) => Promise<T>): Promise<T> {
    let res: Dispatcher.ResponseData | undefined
    try {
      res = await request(`${this.base}/${path}`, {
        method: 'GET',
        headers: { [PEER_TOKEN_HEADER]: await this.signer.token(this.peerId) },
        signal,
        headersTimeout: this.idleMs,
        bodyTimeout: this.idleMs,
        ...(this.init.dispatcher ? { dispatcher: this.init.dispatcher } : {}),
      })
      if (res.statusCode >= 500) throw new SourceError(`peer ${this.peerId} answered HTTP ${res.statusCode}`, 'error')
      if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 429 || res.statusCode === 503) {
        // Refused: busy, or not (yet) accepted. The scheduler backs off and asks again; a long
        // run of refusals drops the source until its readmission.
        const text = await res.body.text().catch(() => '')
        throw new SourceError(`peer ${this.peerId} refused: HTTP ${res.statusCode} ${text.slice(0, 300)}`, 'refused')
      }
      return await body(res)
    } catch (err) {
      // Leave the connection reusable only when the body was consumed; otherwise drop it.
      res?.body.destroy()
      if (signal.aborted) throw signal.reason
      if (err instanceof SourceError) throw err
      if (err instanceof ChunkProtocolError) throw new SourceError(`peer ${this.peerId} sent a bad answer: ${err.message}`, 'error')
      const e = err as Error & { code?: string }
      if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') throw new SourceError(`peer ${this.peerId} went silent`, 'timeout')
      throw new SourceError(`peer ${this.peerId} unreachable over HTTP: ${e.message}`, 'gone')
    }
  }

  /** A small JSON body, bounded by MAX_CHUNK_RESPONSE_BYTES. */
  private static async json(res: Dispatcher.ResponseData): Promise<unknown> {
    const declared = Number(res.headers['content-length'] ?? 0)
    if (declared > MAX_CHUNK_RESPONSE_BYTES) throw new ChunkProtocolError(`a ${declared}-byte answer is larger than allowed`)
    const parts: Buffer[] = []
    let size = 0
    for await (const part of res.body as AsyncIterable<Buffer>) {
      size += part.length
      if (size > MAX_CHUNK_RESPONSE_BYTES) throw new ChunkProtocolError('answer larger than allowed')
      parts.push(part)
    }
    try {
      return JSON.parse(Buffer.concat(parts).toString('utf8'))
    } catch {
      throw new ChunkProtocolError('answer is not JSON')
    }
  }

  have(sha256: string, signal: AbortSignal): Promise<HaveMap | undefined> {
    return this.get(`${sha256}/have`, signal, async (res) => {
      const body = await HttpChunkSource.json(res)
      if (res.statusCode === 404) return undefined
      if (res.statusCode !== 200) throw new SourceError(`peer ${this.peerId} answered HTTP ${res.statusCode}`, 'error')
      return haveFromWire(parse(haveBody, body).have)
    })
  }

  manifest(sha256: string, signal: AbortSignal): Promise<ChunkManifest | undefined> {
    return this.get(`${sha256}/manifest`, signal, async (res) => {
      const body = await HttpChunkSource.json(res)
      if (res.statusCode === 404) return undefined
      if (res.statusCode !== 200) throw new SourceError(`peer ${this.peerId} answered HTTP ${res.statusCode}`, 'error')
      return manifestFromWire(parse(wireManifest, body), sha256)
    })
  }

  fetchChunk(sha256: string, index: number, signal: AbortSignal): Promise<Uint8Array> {
    return this.get(`${sha256}/chunks/${index}`, signal, async (res) => {
      if (res.statusCode !== 200) {
        await res.body.text().catch(() => '')
        throw new SourceError(`peer ${this.peerId} does not serve chunk ${index} of ${sha256} (HTTP ${res.statusCode})`, 'refused')
      }
      const length = Number(res.headers['content-length'])
      if (!Number.isInteger(length) || length < 0 || length > MAX_CHUNK_BYTES) {
        throw new ChunkProtocolError(`chunk answer has no usable Content-Length (${String(res.headers['content-length'])})`)
      }
      // Streamed into one buffer of the announced size: one chunk in memory, one copy.
      const out = Buffer.allocUnsafeSlow(length)
      let at = 0
      for await (const part of res.body as AsyncIterable<Buffer>) {
        if (at + part.length > length) throw new ChunkProtocolError(`chunk answer is longer than its Content-Length ${length}`)
        part.copy(out, at)
        at += part.length
      }
      if (at !== length) throw new SourceError(`chunk answer ended after ${at} of ${length} bytes`, 'gone')
      return new Uint8Array(out.buffer, out.byteOffset, length)
    })
  }
}
