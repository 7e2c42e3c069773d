import type { FastifyInstance } from 'fastify'
import type { FormatContext } from '../core/index.ts'

// Placeholder while the pypi format is being written; replaced by its implementation.
export function pypiFormat(_ctx: FormatContext) {
  return async function (_app: FastifyInstance): Promise<void> {}
}
