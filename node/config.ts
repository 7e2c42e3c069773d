import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import {
  DEFAULT_BODY_IDLE_TIMEOUT,
  DEFAULT_DATA_DIR,
  DEFAULT_GC_GRACE,
  DEFAULT_GC_INTERVAL,
  DEFAULT_HTTP_HOST,
  DEFAULT_HTTP_PORT,
  DEFAULT_MAX_FAILED_LOGINS_PER_ADDRESS,
  DEFAULT_MAX_FAILED_LOGINS_PER_USER,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_MAX_UPLOAD_SESSIONS,
  DEFAULT_MIN_FREE_BYTES,
  DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND,
  DEFAULT_SESSION_TTL,
  DEFAULT_SLOW_UPLOAD_WINDOW_SECONDS,
  DEFAULT_UPLOAD_SESSION_TTL_SECONDS,
  DEFAULT_SHUTDOWN_TIMEOUT,
} from './constants.ts'
import {
  DEFAULT_MAX_METADATA_BYTES,
  DEFAULT_METADATA_TTL,
  DEFAULT_NEGATIVE_TTL,
  DEFAULT_UPSTREAM_TIMEOUT,
} from '../formats/core/index.ts'

const port = z.coerce.number().int().min(0).max(65535)
const positiveInt = z.coerce.number().int().positive()
const nonNegativeInt = z.coerce.number().int().min(0)
const commaList = z.union([
  z.array(z.string().min(1)),
  z.string().transform((v) => v.split(',').map((x) => x.trim()).filter((x) => x !== '')),
])
/** An IP address or a CIDR block (10.0.0.0/8, fd00::/8): what proxy-addr accepts, checked here so a typo stops the node. */
function isIpOrCidr(entry: string): boolean {
  const slash = entry.indexOf('/')
  const ip = slash < 0 ? entry : entry.slice(0, slash)
  const family = isIP(ip)
  if (family === 0) return false
  if (slash < 0) return true
  const bits = entry.slice(slash + 1)
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
}
const addressList = commaList.superRefine((list, ctx) => {
  for (const entry of list) if (!isIpOrCidr(entry)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `'${entry}' is not an IP address or CIDR block` })
})
const labelMap = z.union([
  z.record(z.string()),
  z.string().transform((v, ctx) => {
    const out: Record<string, string> = {}
    for (const pair of v.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
      const eq = pair.indexOf('=')
      if (eq <= 0) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `'${pair}' is not key=value` })
      else out[pair.slice(0, eq)] = pair.slice(eq + 1)
    }
    return out
  }),
])
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))])

export const configSchema = z
  .object({
    dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    http: z
      .object({
        host: z.string().min(1).default(DEFAULT_HTTP_HOST),
        port: port.default(DEFAULT_HTTP_PORT),
        /** Base URL clients use to reach this node, for URLs the node generates. */
        publicUrl: z.string().url().optional(),
        bodyIdleTimeoutMs: positiveInt.default(DEFAULT_BODY_IDLE_TIMEOUT),
        /**
         * Reverse proxies whose X-Forwarded-For (and -Proto, -Host) is believed: the client address
         * is the first hop from the right that is not one of these. Empty: the socket's address.
         */
        trustedProxies: addressList.default([]),
      })
      .strict()
      .default({}),
    adminPassword: z.string().min(8, 'must be at least 8 characters').optional(),
    /** File of the key that seals upstream credentials in metadata.db; must exist. Unset: `dataDir/secret-key`, created on first start. */
    secretKeyFile: z.string().min(1).optional(),
    limits: z
      .object({
        maxUploadBytes: positiveInt.default(DEFAULT_MAX_UPLOAD_BYTES),
        /** Blob bytes this node SENDS per second (chunks to peers over libp2p and HTTP, and blob GETs together); 0 = unlimited. */
        uploadMaxBytesPerSecond: nonNegativeInt.default(0),
        /** A client body slower than this (bytes/s) over slowUploadWindowSeconds is cut with 408; 0 = no minimum. */
        minUploadBytesPerSecond: nonNegativeInt.default(DEFAULT_MIN_UPLOAD_BYTES_PER_SECOND),
        /** The sliding window of the minimum upload rate, in seconds. */
        slowUploadWindowSeconds: positiveInt.default(DEFAULT_SLOW_UPLOAD_WINDOW_SECONDS),
        /** A resumable upload session (OCI) idle this many seconds is gone (404 BLOB_UPLOAD_UNKNOWN), its temp file deleted. */
        uploadSessionTtlSeconds: positiveInt.default(DEFAULT_UPLOAD_SESSION_TTL_SECONDS),
        /** Resumable upload sessions one user may have open at once (one more is 429). */
        maxUploadSessions: positiveInt.default(DEFAULT_MAX_UPLOAD_SESSIONS),
      })
      .strict()
      .default({}),
    storage: z
      .object({
        backend: z.enum(['fs', 's3']).default('fs'),
        /** Below this many free bytes on the data directory's file system uploads are 507 and /ready is 503; 0 = only a full disk. */
        minFreeBytes: nonNegativeInt.default(DEFAULT_MIN_FREE_BYTES),
        s3: z
          .object({
            bucket: z.string().min(1).optional(),
            endpoint: z.string().url().optional(),
            region: z.string().default('us-east-1'),
            accessKeyId: z.string().optional(),
            secretAccessKey: z.string().optional(),
            forcePathStyle: bool.default(false),
            prefix: z.string().default(''),
            partSize: positiveInt.min(5 * 1024 * 1024, 'S3 parts are at least 5 MiB').optional(),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    gc: z
      .object({
        intervalMs: nonNegativeInt.default(DEFAULT_GC_INTERVAL),
        graceMs: nonNegativeInt.default(DEFAULT_GC_GRACE),
      })
      .strict()
      .default({}),
    auth: z
      .object({
        sessionTtlMs: positiveInt.default(DEFAULT_SESSION_TTL),
        maxFailedLoginsPerUser: positiveInt.default(DEFAULT_MAX_FAILED_LOGINS_PER_USER),
        maxFailedLoginsPerAddress: positiveInt.default(DEFAULT_MAX_FAILED_LOGINS_PER_ADDRESS),
      })
      .strict()
      .default({}),
    shutdownTimeoutMs: nonNegativeInt.default(DEFAULT_SHUTDOWN_TIMEOUT),
    /** Remote (proxy) repositories: defaults a repository's settings may override (docs/remote.md). */
    remote: z
      .object({
        /** How long fetched metadata (packuments, simple pages) is served before it is revalidated. */
        metadataTtlMs: nonNegativeInt.default(DEFAULT_METADATA_TTL),
        /** How long an upstream 404 is remembered. */
        negativeTtlMs: nonNegativeInt.default(DEFAULT_NEGATIVE_TTL),
        /** Upstream response headers and every body gap must arrive within this. */
        timeoutMs: positiveInt.default(DEFAULT_UPSTREAM_TIMEOUT),
        /** Largest metadata document read from an upstream. */
        maxMetadataBytes: positiveInt.default(DEFAULT_MAX_METADATA_BYTES),
        /** Allow upstreams at link-local and cloud metadata addresses (refused by default: SSRF; docs/remote.md). */
        allowPrivateAddresses: bool.default(false),
      })
      .strict()
      .default({}),
    /** TEST ONLY fault injection, for acceptance tests that need a misbehaving real node. */
    /** The swarm scheduler: downloads of blobs this node lacks (docs/swarm.md). */
    swarm: z
      .object({
        /** Blob downloads running at once; more wait in a queue. */
        maxDownloads: positiveInt.default(4),
        /** All swarm downloads together, bytes per second; 0 = unlimited. */
        maxBytesPerSecond: nonNegativeInt.default(0),
        /** From any one source, bytes per second; 0 = unlimited. */
        peerMaxBytesPerSecond: nonNegativeInt.default(0),
      })
      .strict()
      .default({}),
    faults: z
      .object({
        /** Serve every chunk with flipped bytes (to peers, over libp2p and HTTP). Warns at start. */
        corruptChunks: bool.default(false),
      })
      .strict()
      .default({}),
    mesh: z
      .object({
        /** Join the libp2p mesh. Unset: on exactly when a mesh key is configured (see docs/mesh.md). */
        enabled: bool.optional(),
        // The mesh's own defaults (mesh/constants.ts), repeated as literals so that loading the
        // configuration does not load libp2p.
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(8081),
        /** Multiaddrs of peers to dial at start (comma-separated in AK_MESH_BOOTSTRAP). */
        bootstrap: commaList.default([]),
        /** Labels such as region and site (k=v,k=v in AK_MESH_LABELS). */
        labels: labelMap.default({}),
        /** Private-network key (pnet v1 text or its 64 hex digits), as `ak mesh keygen` prints. */
        key: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        /** Peer IDs allowed to connect (comma-separated in AK_MESH_ALLOW); empty allows every key holder. */
        allow: commaList.default([]),
        /** Create a repository this node lacks when replicated events for it arrive (else keep them until an admin creates it). */
        autoCreateRepositories: bool.default(true),
        /** HTTP URL peers use to fetch chunks from this node (advertised over /ak/chunk/1.0.0 `info`). Default: the listening URL. */
        httpUrl: z.string().url().optional(),
        /** Peer profiles: how often connected peers are pinged for RTT (mesh/profiles DEFAULT_PING_INTERVAL). */
        pingIntervalMs: positiveInt.default(10_000),
        /** Peer profiles: bytes of one active throughput probe (mesh/profiles DEFAULT_PROBE_BYTES; the server caps it at 8 MiB). */
        probeBytes: positiveInt.max(8 * 1024 * 1024, 'at most 8 MiB (peers refuse larger probes)').default(1024 * 1024),
        /** Content location: how often every held blob is announced again as a DHT provider record; records live twice this long (mesh/content DEFAULT_PROVIDE_INTERVAL). */
        provideIntervalMs: positiveInt.min(60_000, 'at least 60000 (one minute)').default(12 * 60 * 60 * 1000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.storage.backend === 's3' && !c.storage.s3.bucket) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['storage', 's3', 'bucket'], message: 'required when storage.backend is s3 (AK_S3_BUCKET)' })
    }
  })

export type Config = z.infer<typeof configSchema>

/** Environment variable → config path. The README's configuration table lists the same. */
export const ENV_VARS: Record<string, string> = {
  AK_DATA_DIR: 'dataDir',
  AK_LOG_LEVEL: 'logLevel',
  AK_HTTP_HOST: 'http.host',
  AK_HTTP_PORT: 'http.port',
  AK_PUBLIC_URL: 'http.publicUrl',
  AK_BODY_IDLE_TIMEOUT_MS: 'http.bodyIdleTimeoutMs',
  AK_TRUSTED_PROXIES: 'http.trustedProxies',
  AK_ADMIN_PASSWORD: 'adminPassword',
  AK_SECRET_KEY_FILE: 'secretKeyFile',
  AK_MAX_UPLOAD_BYTES: 'limits.maxUploadBytes',
  AK_UPLOAD_MAX_BYTES_PER_SECOND: 'limits.uploadMaxBytesPerSecond',
  AK_MIN_UPLOAD_BYTES_PER_S: 'limits.minUploadBytesPerSecond',
  AK_SLOW_UPLOAD_WINDOW_S: 'limits.slowUploadWindowSeconds',
  AK_UPLOAD_SESSION_TTL_S: 'limits.uploadSessionTtlSeconds',
  AK_MAX_UPLOAD_SESSIONS: 'limits.maxUploadSessions',
  AK_STORAGE_BACKEND: 'storage.backend',
  AK_MIN_FREE_BYTES: 'storage.minFreeBytes',
  AK_S3_BUCKET: 'storage.s3.bucket',
  AK_S3_ENDPOINT: 'storage.s3.endpoint',
  AK_S3_REGION: 'storage.s3.region',
  AK_S3_ACCESS_KEY_ID: 'storage.s3.accessKeyId',
  AK_S3_SECRET_ACCESS_KEY: 'storage.s3.secretAccessKey',
  AK_S3_FORCE_PATH_STYLE: 'storage.s3.forcePathStyle',
  AK_S3_PREFIX: 'storage.s3.prefix',
  AK_S3_PART_SIZE: 'storage.s3.partSize',
  AK_GC_INTERVAL_MS: 'gc.intervalMs',
  AK_GC_GRACE_MS: 'gc.graceMs',
  AK_SESSION_TTL_MS: 'auth.sessionTtlMs',
  AK_MAX_FAILED_LOGINS_PER_USER: 'auth.maxFailedLoginsPerUser',
  AK_MAX_FAILED_LOGINS_PER_ADDRESS: 'auth.maxFailedLoginsPerAddress',
  AK_SHUTDOWN_TIMEOUT_MS: 'shutdownTimeoutMs',
  AK_REMOTE_METADATA_TTL_MS: 'remote.metadataTtlMs',
  AK_REMOTE_NEGATIVE_TTL_MS: 'remote.negativeTtlMs',
  AK_REMOTE_TIMEOUT_MS: 'remote.timeoutMs',
  AK_REMOTE_MAX_METADATA_BYTES: 'remote.maxMetadataBytes',
  AK_UPSTREAM_ALLOW_PRIVATE: 'remote.allowPrivateAddresses',
  AK_MESH_ENABLED: 'mesh.enabled',
  AK_MESH_HOST: 'mesh.host',
  AK_MESH_PORT: 'mesh.port',
  AK_MESH_BOOTSTRAP: 'mesh.bootstrap',
  AK_MESH_LABELS: 'mesh.labels',
  AK_MESH_KEY: 'mesh.key',
  AK_MESH_KEY_FILE: 'mesh.keyFile',
  AK_MESH_ALLOW: 'mesh.allow',
  AK_MESH_AUTO_CREATE: 'mesh.autoCreateRepositories',
  AK_MESH_HTTP_URL: 'mesh.httpUrl',
  AK_FAULT_CORRUPT_CHUNKS: 'faults.corruptChunks',
  AK_SWARM_MAX_DOWNLOADS: 'swarm.maxDownloads',
  AK_SWARM_MAX_BYTES_PER_SECOND: 'swarm.maxBytesPerSecond',
  AK_SWARM_PEER_MAX_BYTES_PER_SECOND: 'swarm.peerMaxBytesPerSecond',
  AK_MESH_PING_INTERVAL_MS: 'mesh.pingIntervalMs',
  AK_MESH_PROBE_BYTES: 'mesh.probeBytes',
  AK_MESH_PROVIDE_INTERVAL_MS: 'mesh.provideIntervalMs',
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

type Tree = Record<string, unknown>

function setPath(tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = tree
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {}
    node = node[p] as Tree
  }
  node[parts[parts.length - 1] as string] = value
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base }
  for (const [k, v] of Object.entries(over)) {
    out[k] =
      typeof v === 'object' && v !== null && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null
        ? merge(out[k] as Tree, v as Tree)
        : v
  }
  return out
}

export interface LoadConfigInput {
  /** Path of a YAML file (--config or AK_CONFIG). */
  file?: string | undefined
  env?: NodeJS.ProcessEnv
  /** Values from command-line flags, as config paths ('http.port' → value). */
  flags?: Record<string, unknown>
}

/**
 * Builds the configuration: defaults < YAML file < environment < flags. Validated once;
 * every bad value is reported with its source name in one ConfigError.
 */
export function loadConfig(input: LoadConfigInput = {}): Config {
  const env = input.env ?? process.env
  let tree: Tree = {}
  const file = input.file ?? env.AK_CONFIG
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`)
    }
    let parsed: unknown
    try {
      parsed = parseYaml(text)
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`)
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a mapping`)
      tree = parsed as Tree
    }
  }
  const fromEnv: Tree = {}
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const v = env[name]
    if (v !== undefined && v !== '') setPath(fromEnv, path, v)
  }
  const fromFlags: Tree = {}
  for (const [path, v] of Object.entries(input.flags ?? {})) if (v !== undefined) setPath(fromFlags, path, v)
  tree = merge(merge(tree, fromEnv), fromFlags)
  const result = configSchema.safeParse(tree)
  if (!result.success) {
    const byPath = Object.fromEntries(Object.entries(ENV_VARS).map(([k, v]) => [v, k]))
    const lines = result.error.issues.map((i) => {
      const path = i.path.join('.')
      const envName = byPath[path]
      return `  ${path}${envName ? ` (${envName})` : ''}: ${i.message}`
    })
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  const config = result.data
  config.dataDir = resolve(config.dataDir)
  if (config.mesh.keyFile) config.mesh.keyFile = resolve(config.mesh.keyFile)
  if (config.secretKeyFile) config.secretKeyFile = resolve(config.secretKeyFile)
  return config
}
