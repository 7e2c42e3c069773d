import { z } from 'zod'
import { globToRegExp } from '../../store/index.ts'
import { effectiveReplication, type ReplicationSettings } from '../../store/index.ts'
import type { Repository, RepositorySettings } from '../../store/index.ts'

/*
 * The `replication` object of a repository (docs/mesh.md "Replication settings"), accepted at the
 * top level of POST/PATCH/PUT /api/v1/repositories bodies or as settings.replication, stored in
 * settings.replication as given, and shown in GET with its defaults filled in.
 */

const glob = z
  .string()
  .min(1)
  .max(512)
  .refine((g) => {
    try {
      globToRegExp(g)
      return true
    } catch {
      return false
    }
  }, 'not a valid glob')
const globs = z.array(glob).max(100)
const peerId = z.string().min(1).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'a peer ID (base58, as `ak mesh id` prints)')

export const replicationSchema = z
  .object({
    /** eager: fetch blobs when metadata arrives; lazy: on first request; local-only: never leaves this node. */
    mode: z.enum(['eager', 'lazy', 'local-only']).optional(),
    /** 'all', or the peer IDs of the nodes that materialise the repository. */
    peers: z.union([z.literal('all'), z.array(peerId).max(1000)]).optional(),
    /** Nodes whose mesh.labels include all of these materialise the repository. */
    labels: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
    filters: z.object({ paths: globs.optional(), packages: globs.optional(), tags: globs.optional() }).strict().optional(),
  })
  .strict()
export type ReplicationInput = z.infer<typeof replicationSchema>

/** `settings` with `replication` stored in it (unchanged when undefined). */
export function withReplication(settings: RepositorySettings, replication: ReplicationInput | undefined): RepositorySettings {
  return replication === undefined ? settings : { ...settings, replication }
}

/** The effective settings GET shows (defaults: eager for local, lazy for remote; peers all; no labels or filters). */
export function replicationView(r: Repository): ReplicationSettings {
  return effectiveReplication(r.type, r.settings)
}
