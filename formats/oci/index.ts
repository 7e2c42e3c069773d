import type { FastifyInstance } from 'fastify'
import type { FormatContext } from '../core/index.ts'

// Placeholder while the oci format is being written; replaced by its implementation.
export function ociFormat(_ctx: FormatContext) {
  return async function (_app: FastifyInstance): Promise<void> {}
}
