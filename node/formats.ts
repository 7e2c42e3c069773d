import type { FastifyInstance } from 'fastify'
import type { FormatContext } from '../formats/core/index.ts'
import { FORMAT_NAMES } from './format-names.ts'
import { genericFormat } from '../formats/generic/index.ts'
import { npmFormat } from '../formats/npm/index.ts'
import { pypiFormat } from '../formats/pypi/index.ts'
import { mavenFormat } from '../formats/maven/index.ts'
import { ociFormat } from '../formats/oci/index.ts'
import { cargoFormat } from '../formats/cargo/index.ts'
import { goFormat } from '../formats/go/index.ts'
import { helmFormat } from '../formats/helm/index.ts'

export interface FormatRegistration {
  /** The repository `format` value. */
  name: string
  /** Where its routes live. */
  prefix: string
  plugin: (ctx: FormatContext) => (app: FastifyInstance) => Promise<void>
}

/** Every format this node serves, each an encapsulated fastify plugin under its prefix. */
export const FORMATS: readonly FormatRegistration[] = [
  { name: 'generic', prefix: '/generic', plugin: genericFormat },
  { name: 'npm', prefix: '/npm', plugin: npmFormat },
  { name: 'pypi', prefix: '/pypi', plugin: pypiFormat },
  { name: 'maven', prefix: '/maven', plugin: mavenFormat },
  // OCI images live at /v2/{repo}/{name…}: the first segment of the image name is the repository.
  { name: 'oci', prefix: '/v2', plugin: ociFormat },
  { name: 'cargo', prefix: '/cargo', plugin: cargoFormat },
  { name: 'go', prefix: '/go', plugin: goFormat },
  { name: 'helm', prefix: '/helm', plugin: helmFormat },
]

// The CLI reads the names from format-names.ts without loading every format; keep both in step.
const registered = FORMATS.map((f) => f.name).join(',')
if (registered !== FORMAT_NAMES.join(',')) {
  throw new Error(`node/format-names.ts (${FORMAT_NAMES.join(',')}) is out of step with FORMATS (${registered})`)
}
export { FORMAT_NAMES }
