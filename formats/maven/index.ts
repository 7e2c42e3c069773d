import type { FastifyInstance } from 'fastify'
import type { FormatContext } from '../core/index.ts'

// Placeholder while the maven format is being written; replaced by its implementation.
export function mavenFormat(_ctx: FormatContext) {
  return async function (_app: FastifyInstance): Promise<void> {}
}
