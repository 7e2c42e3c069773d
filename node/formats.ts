import type { FastifyInstance } from 'fastify'
import type { FormatContext, ReplicationContext } from '../formats/core/index.ts'
import type { FormatReplicationHooks } from '../store/index.ts'
import { FORMAT_NAMES } from './format-names.ts'
import { genericFormat } from '../formats/generic/index.ts'
import { npmFormat, npmReplicationHooks } from '../formats/npm/index.ts'
import { pypiFormat, pypiReplicationHooks } from '../formats/pypi/index.ts'
import { mavenFormat, mavenReplicationHooks } from '../formats/maven/index.ts'
import { ociFormat, ociReplicationHooks } from '../formats/oci/index.ts'
import { cargoFormat, cargoReplicationHooks } from '../formats/cargo/index.ts'
import { goFormat, goReplicationHooks } from '../formats/go/index.ts'
import { helmFormat, helmReplicationHooks } from '../formats/helm/index.ts'

export interface FormatRegistration {
  /** The repository `format` value. */
  name: string
  /** Where its routes live. */
  prefix: string
  plugin: (ctx: FormatContext) => (app: FastifyInstance) => Promise<void>
  /**
   * How its index tables follow replicated changes and which replicated paths it refuses
   * (store/replication-hooks.ts); none when it indexes only artifacts and any path is its own.
   */
  replication?: (ctx: ReplicationContext) => FormatReplicationHooks
}

/** Every format this node serves, each an encapsulated fastify plugin under its prefix. */
export const FORMATS: readonly FormatRegistration[] = [
  { name: 'generic', prefix: '/generic', plugin: genericFormat },
  { name: 'npm', prefix: '/npm', plugin: npmFormat, replication: npmReplicationHooks },
  { name: 'pypi', prefix: '/pypi', plugin: pypiFormat, replication: pypiReplicationHooks },
  { name: 'maven', prefix: '/maven', plugin: mavenFormat, replication: mavenReplicationHooks },
  // OCI images live at /v2/{repo}/{name…}: the first segment of the image name is the repository.
  { name: 'oci', prefix: '/v2', plugin: ociFormat, replication: ociReplicationHooks },
  { name: 'cargo', prefix: '/cargo', plugin: cargoFormat, replication: cargoReplicationHooks },
  { name: 'go', prefix: '/go', plugin: goFormat, replication: goReplicationHooks },
  { name: 'helm', prefix: '/helm', plugin: helmFormat, replication: helmReplicationHooks },
]

// The CLI reads the names from format-names.ts without loading every format; keep both in step.
const registered = FORMATS.map((f) => f.name).join(',')
if (registered !== FORMAT_NAMES.join(',')) {
  throw new Error(`node/format-names.ts (${FORMAT_NAMES.join(',')}) is out of step with FORMATS (${registered})`)
}
export { FORMAT_NAMES }

/** The replication hooks of every format that has them, for the mesh's event applier. */
export function formatReplicationHooks(ctx: ReplicationContext): FormatReplicationHooks[] {
  return FORMATS.flatMap((f) => (f.replication ? [f.replication(ctx)] : []))
}
