import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { BlobIndex, FreeSpaceMonitor } from '../store/index.ts'

/** The node's Prometheus metrics, on a registry of its own (tests run several nodes in one process). */
export function createMetrics(blobIndex: BlobIndex, space?: FreeSpaceMonitor) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'ak_process_' })
  const requests = new Counter({
    name: 'ak_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'ak_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method and route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
    registers: [registry],
  })
  const bytesIn = new Counter({ name: 'ak_http_bytes_in_total', help: 'Request bytes received (request lines, headers and bodies)', registers: [registry] })
  const bytesOut = new Counter({ name: 'ak_http_bytes_out_total', help: 'Response body bytes sent', registers: [registry] })
  const uploadErrors = new Counter({
    name: 'ak_upload_errors_total',
    help: 'Uploads refused or failed, by format and reason',
    labelNames: ['format', 'reason'],
    registers: [registry],
  })
  const authFailures = new Counter({
    name: 'ak_auth_failures_total',
    help: 'Credentials refused, by reason (password, unknown_user, disabled, throttled: a password attempt refused with 429 unchecked, token, token_expired, token_user, session)',
    labelNames: ['reason'],
    registers: [registry],
  })
  new Gauge({
    name: 'ak_blobs',
    help: 'Blobs in the store',
    registers: [registry],
    collect() {
      this.set(blobIndex.totals().count)
    },
  })
  new Gauge({
    name: 'ak_blob_bytes',
    help: 'Bytes of all blobs in the store',
    registers: [registry],
    collect() {
      this.set(blobIndex.totals().bytes)
    },
  })
  if (space) {
    new Gauge({
      name: 'ak_storage_free_bytes',
      help: "Free bytes on the data directory's file system (as last read; uploads are refused below storage.minFreeBytes)",
      registers: [registry],
      collect() {
        if (space.freeBytes !== undefined) this.set(space.freeBytes)
      },
    })
    new Gauge({
      name: 'ak_storage_min_free_bytes',
      help: 'The configured minimum of free bytes (AK_MIN_FREE_BYTES)',
      registers: [registry],
      collect() {
        this.set(space.minFreeBytes)
      },
    })
  }
  const swarmBytes = new Counter({
    name: 'ak_swarm_bytes_total',
    help: 'Verified chunk bytes the swarm scheduler received, by source kind (libp2p, http, upstream)',
    labelNames: ['kind'],
    registers: [registry],
  })
  const swarmChunksFailed = new Counter({
    name: 'ak_swarm_chunks_failed_total',
    help: 'Chunk requests of the swarm scheduler that failed, by source kind and reason (corrupt, timeout, refused, gone, error)',
    labelNames: ['kind', 'reason'],
    registers: [registry],
  })
  const blobEgress = new Counter({
    name: 'ak_blob_egress_bytes_total',
    help: 'Blob bytes this node sent, by path (chunks: to mesh peers over libp2p and HTTP; http: blob downloads by clients)',
    labelNames: ['path'],
    registers: [registry],
  })
  return { registry, requests, duration, bytesIn, bytesOut, uploadErrors, authFailures, swarmBytes, swarmChunksFailed, blobEgress }
}

export type Metrics = ReturnType<typeof createMetrics>
