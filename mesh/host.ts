import type { Libp2p } from 'libp2p'
import type { Ping } from '@libp2p/ping'
import type { KadDHT } from '@libp2p/kad-dht'
// Before any connection: xsalsa20 (pnet's cipher) otherwise grows its memory until it crashes.
// Loaded with this module (it is small), so the fix is in place whoever creates a host.
import './pnet-xsalsa20-fix.ts'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { NodeIdentity } from './identity.ts'
import {
  DEFAULT_MESH_HOST,
  DEFAULT_MESH_PORT,
  KAD_PROTOCOL,
  PSK_HANDSHAKE_TIMEOUT,
  RECONNECT_MAX_DELAY,
  RECONNECT_MIN_DELAY,
} from './constants.ts'
import { createPeerPenalties, type PeerPenalties } from './penalties.ts'

/** The part of a pino logger the mesh writes to. */
export interface MeshLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

export interface MeshHostInit {
  identity: NodeIdentity
  /** @default DEFAULT_MESH_HOST ('127.0.0.1') */
  host?: string
  /** 0 picks any free port. @default DEFAULT_MESH_PORT (8081) */
  port?: number
  /** Multiaddrs dialled at start and redialled with backoff whenever the link drops. @default [] */
  bootstrap?: string[]
  /** Free-form labels (region, site…), reported in the status. @default {} */
  labels?: Record<string, string>
  /** The private-network key (pnet v1 bytes, see parseMeshKey). Without it the mesh is open. */
  psk?: Uint8Array
  /** Peer IDs allowed to connect (both directions). Undefined: everyone holding the key. */
  allow?: string[]
  logger?: MeshLogger
  /**
   * How long DHT provider records stay valid (ours on other peers, theirs here); mesh/content
   * refreshes ours well before. @default kad-dht's PROVIDERS_VALIDITY (48 h)
   */
  providerValidityMs?: number
}

/** A peer that announced it holds a DHT key. */
export interface ProviderRecord {
  peerId: string
  addresses: string[]
}

export interface MeshPeer {
  peerId: string
  addresses: string[]
  /** Whether this peer is one of our configured bootstrap peers. */
  bootstrap: boolean
}

export interface MeshStatus {
  peerId: string
  addresses: string[]
  labels: Record<string, string>
  /** A mesh key is configured (closed network). */
  private: boolean
  /** Size of the allowlist, null when there is none. */
  allowlist: number | null
  connected: MeshPeer[]
}

/** A libp2p host: membership, streams to peers, and the penalty box for misbehaving ones. */
export interface MeshHost {
  readonly peerId: string
  readonly penalties: PeerPenalties
  start(): Promise<void>
  stop(): Promise<void>
  /** Addresses we listen on, with /p2p/<our id>. */
  addresses(): string[]
  /** Peer IDs of the peers we hold a connection to. */
  connectedPeers(): string[]
  status(): MeshStatus
  /** Serves a stream protocol; the handler gets every inbound stream of it. */
  handle(protocol: string, handler: (stream: Stream, remotePeer: string) => Promise<void>): Promise<void>
  /** Opens a stream of `protocol` to a connected (or dialable) peer. */
  openStream(peerId: string, protocol: string, signal?: AbortSignal): Promise<Stream>
  /** Called with the peer ID whenever a peer connects. */
  onPeerConnect(listener: (peerId: string) => void): void
  /** Called with the peer ID whenever the last connection to a peer closes. */
  onPeerDisconnect(listener: (peerId: string) => void): void
  /** Round-trip time to a peer in ms, measured by the libp2p ping protocol. */
  ping(peerId: string, signal?: AbortSignal): Promise<number>
  /** Announces on the DHT that we provide `key`; resolves with how many peers stored the record. */
  provide(key: CID, signal?: AbortSignal): Promise<number>
  /** Stops providing `key`: drops our own record (kad-dht has no withdrawal message; peers' copies expire). */
  cancelProvide(key: CID): Promise<void>
  /** Peers the DHT knows to provide `key` (their addresses are kept for dialling). */
  findProviders(key: CID, signal: AbortSignal): AsyncIterable<ProviderRecord>
  /** Makes sure we hold a connection to `peerId` (dialling known addresses). */
  connect(peerId: string, signal?: AbortSignal): Promise<void>
}

/**
 * The libp2p stack, imported when a host starts rather than with this module: a node with the
 * mesh off never loads it (about 45 MiB of RSS and a good part of the start-up time).
 */
async function loadLibp2p() {
  const [{ createLibp2p }, { tcp }, { noise }, { yamux }, { identify }, { ping }, { kadDHT }, { preSharedKey }] = await Promise.all([
    import('libp2p'),
    import('@libp2p/tcp'),
    import('@chainsafe/libp2p-noise'),
    import('@chainsafe/libp2p-yamux'),
    import('@libp2p/identify'),
    import('@libp2p/ping'),
    import('@libp2p/kad-dht'),
    import('@libp2p/pnet'),
  ])
  return { createLibp2p, tcp, noise, yamux, identify, ping, kadDHT, preSharedKey }
}

export function createMeshHost(init: MeshHostInit): MeshHost {
  return new Libp2pMeshHost(init)
}

const NOOP_LOGGER: MeshLogger = { info() {}, warn() {}, debug() {} }

interface BootstrapTarget {
  addr: Multiaddr
  /** Learnt on the first successful dial (or given by the /p2p/ part). */
  peerId: string | undefined
  delay: number
  timer: NodeJS.Timeout | undefined
  dialing: boolean
}

class Libp2pMeshHost implements MeshHost {
  readonly peerId: string
  readonly penalties: PeerPenalties
  private node: Libp2p | undefined
  private readonly log: MeshLogger
  private readonly allow: Set<string> | undefined
  private readonly targets: BootstrapTarget[]
  private readonly connectListeners: ((peerId: string) => void)[] = []
  private readonly disconnectListeners: ((peerId: string) => void)[] = []
  private stopped = false

  constructor(private readonly init: MeshHostInit) {
    this.peerId = init.identity.peerId
    this.log = init.logger ?? NOOP_LOGGER
    this.allow = init.allow && init.allow.length > 0 ? new Set(init.allow) : undefined
    this.targets = (init.bootstrap ?? []).map((a) => {
      const addr = multiaddr(a)
      return { addr, peerId: addr.getComponents().find((c) => c.name === 'p2p')?.value, delay: RECONNECT_MIN_DELAY, timer: undefined, dialing: false }
    })
    this.penalties = createPeerPenalties({
      onBan: (peerId) => {
        this.log.warn({ peer: peerId }, 'peer misbehaved too often; disconnecting it')
        void this.node?.hangUp(peerIdFromString(peerId)).catch(() => {})
      },
    })
  }

  /** Whether a remote peer may connect: on the allowlist (if any) and not banned. */
  private denied(peer: PeerId): boolean {
    const id = peer.toString()
    if (this.allow && !this.allow.has(id)) {
      this.log.warn({ peer: id }, 'refused a peer that is not on the mesh allowlist')
      return true
    }
    return this.penalties.banned(id)
  }

  async start(): Promise<void> {
    const host = this.init.host ?? DEFAULT_MESH_HOST
    const port = this.init.port ?? DEFAULT_MESH_PORT
    const family = host.includes(':') ? 'ip6' : 'ip4'
    const { createLibp2p, tcp, noise, yamux, identify, ping, kadDHT, preSharedKey } = await loadLibp2p()
    this.node = await createLibp2p({
      privateKey: this.init.identity.privateKey,
      addresses: { listen: [`/${family}/${host}/tcp/${port}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      ...(this.init.psk ? { connectionProtector: preSharedKey({ psk: this.init.psk, timeout: PSK_HANDSHAKE_TIMEOUT }) } : {}),
      connectionGater: {
        denyDialPeer: (peer) => this.denied(peer),
        denyInboundEncryptedConnection: (peer) => this.denied(peer),
        denyOutboundEncryptedConnection: (peer) => this.denied(peer),
      },
      services: {
        identify: identify(),
        ping: ping({ maxOutboundStreams: 64 }),
        dht: kadDHT({
          protocol: KAD_PROTOCOL,
          clientMode: false,
          initialQuerySelfInterval: 0,
          // Our peers live on private and loopback addresses too: keep them in the routing table.
          peerInfoMapper: (info) => info,
          ...(this.init.providerValidityMs === undefined
            ? {}
            : {
                // Our own records are re-announced by mesh/content before they expire; kad-dht's
                // reprovider (threshold 0) only catches an expired one, and its periodic pass
                // also drops other peers' expired records.
                reprovide: {
                  validity: this.init.providerValidityMs,
                  threshold: 0,
                  interval: Math.min(this.init.providerValidityMs / 8, 60 * 60 * 1000),
                },
              }),
        }),
      },
    })
    this.node.addEventListener('peer:connect', (evt) => {
      const id = evt.detail.toString()
      this.log.info({ peer: id }, 'mesh peer connected')
      for (const l of this.connectListeners) l(id)
    })
    this.node.addEventListener('peer:disconnect', (evt) => {
      const id = evt.detail.toString()
      this.log.info({ peer: id }, 'mesh peer disconnected')
      for (const t of this.targets) if (t.peerId === id) this.schedule(t)
      for (const l of this.disconnectListeners) l(id)
    })
    this.log.info({ peerId: this.peerId, addresses: this.addresses(), private: this.init.psk !== undefined }, 'mesh listening')
    for (const t of this.targets) void this.dial(t)
  }

  /** Redials a bootstrap target after its current backoff delay (doubling up to the maximum, with jitter). */
  private schedule(t: BootstrapTarget): void {
    if (this.stopped || t.timer || t.dialing) return
    const wait = t.delay * (0.75 + Math.random() * 0.5)
    t.delay = Math.min(t.delay * 2, RECONNECT_MAX_DELAY)
    t.timer = setTimeout(() => {
      t.timer = undefined
      void this.dial(t)
    }, wait)
    t.timer.unref()
  }

  private async dial(t: BootstrapTarget): Promise<void> {
    const node = this.node
    if (!node || this.stopped || t.dialing) return
    if (t.peerId && node.getConnections(peerIdFromString(t.peerId)).length > 0) return
    t.dialing = true
    try {
      const conn = await node.dial(t.addr, { signal: AbortSignal.timeout(10_000) })
      t.peerId = conn.remotePeer.toString()
      t.delay = RECONNECT_MIN_DELAY
      this.log.info({ peer: t.peerId, addr: t.addr.toString() }, 'connected to bootstrap peer')
    } catch (err) {
      this.log.debug({ addr: t.addr.toString(), err: (err as Error).message, retryInMs: t.delay }, 'bootstrap dial failed')
      t.dialing = false
      this.schedule(t)
      return
    }
    t.dialing = false
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.targets) clearTimeout(t.timer)
    await this.node?.stop()
  }

  private get libp2p(): Libp2p {
    if (!this.node) throw new Error('the mesh host is not started')
    return this.node
  }

  addresses(): string[] {
    return this.node ? this.node.getMultiaddrs().map((m) => m.toString()) : []
  }

  connectedPeers(): string[] {
    return this.node ? this.node.getPeers().map((p) => p.toString()) : []
  }

  status(): MeshStatus {
    const bootstrapIds = new Set(this.targets.map((t) => t.peerId))
    const byPeer = new Map<string, MeshPeer>()
    for (const c of this.node?.getConnections() ?? []) {
      const id = c.remotePeer.toString()
      const peer = byPeer.get(id) ?? { peerId: id, addresses: [], bootstrap: bootstrapIds.has(id) }
      peer.addresses.push(c.remoteAddr.toString())
      byPeer.set(id, peer)
    }
    return {
      peerId: this.peerId,
      addresses: this.addresses(),
      labels: this.init.labels ?? {},
      private: this.init.psk !== undefined,
      allowlist: this.allow ? this.allow.size : null,
      connected: [...byPeer.values()],
    }
  }

  async handle(protocol: string, handler: (stream: Stream, remotePeer: string) => Promise<void>): Promise<void> {
    const h: StreamHandler = async (stream, connection) => {
      const remote = connection.remotePeer.toString()
      if (this.penalties.banned(remote)) {
        stream.abort(new Error('peer is banned'))
        return
      }
      await handler(stream, remote)
    }
    await this.libp2p.handle(protocol, h)
  }

  async openStream(peerId: string, protocol: string, signal?: AbortSignal): Promise<Stream> {
    return this.libp2p.dialProtocol(peerIdFromString(peerId), protocol, { signal })
  }

  onPeerConnect(listener: (peerId: string) => void): void {
    this.connectListeners.push(listener)
  }

  onPeerDisconnect(listener: (peerId: string) => void): void {
    this.disconnectListeners.push(listener)
  }

  async ping(peerId: string, signal?: AbortSignal): Promise<number> {
    const service = (this.libp2p.services as { ping: Ping }).ping
    return service.ping(peerIdFromString(peerId), { signal })
  }

  async provide(key: CID, signal?: AbortSignal): Promise<number> {
    const dht = (this.libp2p.services as { dht: KadDHT }).dht
    let stored = 0
    for await (const event of dht.provide(key, { signal })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') stored++
    }
    return stored
  }

  async cancelProvide(key: CID): Promise<void> {
    await this.libp2p.contentRouting.cancelReprovide(key)
  }

  async *findProviders(key: CID, signal: AbortSignal): AsyncIterable<ProviderRecord> {
    for await (const info of this.libp2p.contentRouting.findProviders(key, { signal })) {
      yield { peerId: info.id.toString(), addresses: info.multiaddrs.map((m) => m.toString()) }
    }
  }

  async connect(peerId: string, signal?: AbortSignal): Promise<void> {
    await this.libp2p.dial(peerIdFromString(peerId), { signal })
  }
}
