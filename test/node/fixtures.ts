/** Small helpers shared by the node route tests. */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { hashPassword } from '../../node/index.ts'
import type { Action, Store } from '../../store/index.ts'

export interface Call {
  auth?: string | undefined
  body?: InjectOptions['payload']
  headers?: Record<string, string>
  remoteAddress?: string
}

export function call(app: FastifyInstance, method: InjectOptions['method'], url: string, c: Call = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    headers: { ...(c.auth ? { authorization: c.auth } : {}), ...c.headers },
    ...(c.body !== undefined ? { payload: c.body } : {}),
    ...(c.remoteAddress ? { remoteAddress: c.remoteAddress } : {}),
  })
}

export async function addUser(store: Store, name: string, password: string, grants: Record<string, Action[]> = {}): Promise<void> {
  store.auth.createUser({ name, passwordHash: await hashPassword(password) })
  for (const [repo, actions] of Object.entries(grants)) store.auth.setPermission({ repo, principalType: 'user', principal: name, actions })
}

export function addRepo(store: Store, key: string, options: { public?: boolean; immutable?: boolean; format?: string } = {}): void {
  store.repositories.create({
    key,
    format: options.format ?? 'generic',
    type: 'local',
    public: options.public ?? false,
    settings: options.immutable ? { immutable: true } : {},
  })
}

export function bearer(token: string): string {
  return `Bearer ${token}`
}
