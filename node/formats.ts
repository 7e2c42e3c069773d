import type { FastifyInstance } from 'fastify'
import type { FormatContext } from '../formats/core/index.ts'
import { genericFormat, GENERIC_FORMAT } from '../formats/generic/index.ts'

export interface FormatRegistration {
  /** The repository `format` value. */
  name: string
  /** Where its routes live. */
  prefix: string
  plugin: (ctx: FormatContext) => (app: FastifyInstance) => Promise<void>
}

/** Every format this node serves, each an encapsulated fastify plugin under its prefix. */
export const FORMATS: readonly FormatRegistration[] = [
  { name: GENERIC_FORMAT, prefix: '/generic', plugin: genericFormat },
]

export const FORMAT_NAMES: readonly string[] = FORMATS.map((f) => f.name)
