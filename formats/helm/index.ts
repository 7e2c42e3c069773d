import type { FastifyInstance } from 'fastify'
import type { FormatContext } from '../core/index.ts'

// Placeholder while the helm format is being written; replaced by its implementation.
export function helmFormat(_ctx: FormatContext) {
  return async function (_app: FastifyInstance): Promise<void> {}
}
