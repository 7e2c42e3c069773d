import type { FastifyInstance } from 'fastify'
import type { FormatContext } from '../core/index.ts'

// Placeholder while the npm format is being written; replaced by its implementation.
export function npmFormat(_ctx: FormatContext) {
  return async function (_app: FastifyInstance): Promise<void> {}
}
