import { lookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns'
import { BlockList, isIP } from 'node:net'
import { InvalidInputError, UpstreamUnavailableError } from '../../../store/index.ts'

/**
 * Which addresses an upstream may have. A remote repository makes the node send requests where
 * its upstream URL says, so the URL must not reach what only the node can reach and an outsider
 * must not: the link-local range, where every cloud keeps its instance metadata service (with
 * the machine's credentials), and the other metadata addresses. Loopback and private ranges stay
 * allowed (an upstream is often another node on the same host or network). Checked when an
 * upstream is configured (literal addresses, known names, and what the name resolves to now) and
 * again on every connection (the resolved address, so a name that later resolves elsewhere — DNS
 * rebinding — is refused too). `remote.allowPrivateAddresses` (AK_UPSTREAM_ALLOW_PRIVATE) lifts it.
 */

const refused = new BlockList()
// IPv4 link-local (RFC 3927): 169.254.169.254 (AWS, Azure, GCP, OpenStack, DigitalOcean…), 169.254.170.2 (ECS).
refused.addSubnet('169.254.0.0', 16, 'ipv4')
// Alibaba Cloud's metadata service.
refused.addAddress('100.100.100.200', 'ipv4')
// Oracle Cloud's legacy metadata address.
refused.addAddress('192.0.0.192', 'ipv4')
// IPv6 link-local (RFC 4291 §2.5.6).
refused.addSubnet('fe80::', 10, 'ipv6')
// AWS IMDS over IPv6.
refused.addAddress('fd00:ec2::254', 'ipv6')
// IPv4 link-local written as NAT64 (RFC 6052) or 6to4 (RFC 3056) IPv6 addresses.
refused.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6')
refused.addSubnet('2002:a9fe::', 32, 'ipv6')

/** Host names of metadata services (they resolve to refused addresses inside the cloud, but maybe not where the URL is checked). */
export const METADATA_HOSTNAMES: readonly string[] = [
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
]

/** How long configuration waits for a name to resolve before leaving the check to connect time. */
export const CONFIG_LOOKUP_TIMEOUT = 2000

/** The host of a URL without IPv6 brackets or a final dot, lower-cased. */
export function bareHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase()
}

/** Why an IP address is refused as an upstream, or undefined when it is allowed. */
export function refusedAddress(ip: string): string | undefined {
  const family = isIP(ip)
  if (family === 0) return undefined
  // BlockList matches IPv4-mapped IPv6 (::ffff:a.b.c.d) against the IPv4 rules.
  return refused.check(ip, family === 6 ? 'ipv6' : 'ipv4') ? `${ip} is a link-local or cloud metadata address` : undefined
}

/** Why a host (name or literal address) is refused without resolving it, or undefined. */
export function refusedHost(hostname: string): string | undefined {
  const host = bareHost(hostname)
  if (METADATA_HOSTNAMES.includes(host)) return `${host} is a cloud metadata service`
  return refusedAddress(host)
}

const HINT = 'set AK_UPSTREAM_ALLOW_PRIVATE=true to allow it'

export interface AddressPolicy {
  /** Allow every address (remote.allowPrivateAddresses). @default false */
  allowPrivate?: boolean
  /** How names are resolved when connecting (tests inject answers). @default dns.lookup */
  resolve?: Resolver
}

/**
 * Configuration time: the URL is http(s), carries no credentials, and its host is not refused,
 * literally or by what it resolves to now (a name that does not resolve is left to connect time).
 * InvalidInputError otherwise.
 */
export async function checkUpstreamUrl(url: string, policy: AddressPolicy = {}): Promise<void> {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new InvalidInputError(`upstream url '${url}' is not a URL`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidInputError('the upstream url must be http or https')
  if (u.username !== '' || u.password !== '') throw new InvalidInputError('put upstream credentials in upstream.username and upstream.password, not in the url')
  if (policy.allowPrivate) return
  const why = refusedHost(u.hostname)
  if (why) throw new InvalidInputError(`upstream ${u.host} refused: ${why}; ${HINT}`)
  const host = bareHost(u.hostname)
  if (isIP(host) !== 0) return
  const addresses = await new Promise<LookupAddress[]>((resolve) => {
    const timer = setTimeout(() => resolve([]), CONFIG_LOOKUP_TIMEOUT)
    lookup(host, { all: true }, (err, found) => {
      clearTimeout(timer)
      resolve(err ? [] : found)
    })
  })
  for (const a of addresses) {
    const bad = refusedAddress(a.address)
    if (bad) throw new InvalidInputError(`upstream ${u.host} refused: it resolves to ${bad}; ${HINT}`)
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void
/** Name resolution as `dns.lookup(host, { all: true }, cb)` does it. */
export type Resolver = (hostname: string, options: LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void
export type GuardedLookup = (hostname: string, options: LookupOptions | LookupAllOptions, callback: LookupCallback) => void

/**
 * A `lookup` for net.connect/tls.connect that resolves as usual and fails when any address the
 * name resolves to is refused (all of them, not only the one picked: a rebinding answer may mix).
 */
export function guardedLookup(resolve: Resolver = lookup): GuardedLookup {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, options.all ? [] : '', undefined)
      for (const a of addresses) {
        const why = refusedAddress(a.address)
        if (why) return callback(refusedConnection(hostname, why), options.all ? [] : '', undefined)
      }
      if (options.all) return callback(null, addresses)
      const first = addresses[0]
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', undefined)
      callback(null, first.address, first.family)
    })
  }
}

/** The error of a refused connection: the upstream is unavailable, and the message says why. */
export function refusedConnection(host: string, why: string): UpstreamUnavailableError {
  return new UpstreamUnavailableError(`refused to connect to upstream ${host}: ${why}; ${HINT}`, { refusedAddress: true })
}
