import type { FastifyRequest } from 'fastify'
import type { Store } from '../../store/index.ts'
import { InvalidInputError, UnauthorizedError } from '../../store/index.ts'
import type { ZodType, ZodTypeDef } from 'zod'
import type { AuthService, Principal } from '../auth/auth-service.ts'
import type { SessionSigner } from '../auth/sessions.ts'
import type { Config } from '../config.ts'

export interface ApiContext {
  store: Store
  auth: AuthService
  sessions: SessionSigner
  config: Config
  /** Formats this node serves (repository `format` values it accepts). */
  formats: readonly string[]
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal
  }
}

/** Validates a JSON body (or query) against a schema; every problem in one 400. */
export function parseBody<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown): T {
  const r = schema.safeParse(value ?? {})
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')
    throw new InvalidInputError(msg)
  }
  return r.data
}

/** The calling user's name; UnauthorizedError when anonymous. */
export function requireUser(request: FastifyRequest): Extract<Principal, { kind: 'user' }> {
  if (request.principal.kind !== 'user') throw new UnauthorizedError('authentication required')
  return request.principal
}
