import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMemoryDriver, openStore, type Store } from '../../store/index.ts'
import { ChainVerifier, createEventSigner } from '../../mesh/index.ts'
import { createEventApplier } from '../../store/index.ts'
import { tempDir } from '../helpers/node-process.ts'

async function node(): Promise<Store> {
  const key = await generateKeyPair('Ed25519')
  return openStore({ dataDir: tempDir('ak-secret-'), driver: createMemoryDriver(), nodeId: peerIdFromPrivateKey(key).toString(), sign: createEventSigner(key) })
}

function replicate(from: Store, to: Store): void {
  const events = from.log.sinceSigned(from.log.origin, to.log.head(from.log.origin).seq, 1000)
  const { accepted, error } = new ChainVerifier((o) => to.log.head(o)).verify(events)
  if (error) throw error
  createEventApplier(to.db, to.log).apply(accepted)
}

describe('upstream credentials of remote repositories', () => {
  it('never travel in replication events, and a peer keeps its own credentials for the same upstream', async () => {
    const a = await node()
    const b = await node()
    const upstream = { url: 'https://registry.example.test/npm/', username: 'alice', password: 's3cret-of-a' }
    a.repositories.create({ key: 'npm-remote', format: 'npm', type: 'remote', settings: { upstream } })
    const events = a.log.sinceSigned(a.log.origin, 0, 10)
    expect(events.map((e) => e.payload).join('\n')).not.toContain('s3cret-of-a')
    expect(events.map((e) => e.payload).join('\n')).not.toContain('alice')
    replicate(a, b)
    expect(b.repositories.require('npm-remote').settings.upstream).toEqual({ url: upstream.url })

    // B sets its own credentials; a later settings change on A (description) must not wipe them.
    b.repositories.update('npm-remote', { settings: { upstream: { url: upstream.url, username: 'bob', password: 's3cret-of-b' } } })
    a.repositories.update('npm-remote', { description: 'npmjs through the mesh' })
    replicate(b, a)
    replicate(a, b)
    expect(b.repositories.require('npm-remote').settings.upstream).toMatchObject({ username: 'bob', password: 's3cret-of-b' })
    expect(a.repositories.require('npm-remote').settings.upstream).toMatchObject({ username: 'alice', password: 's3cret-of-a' })
    // A different upstream URL resets them: credentials belong to one upstream.
    a.repositories.update('npm-remote', { settings: { upstream: { url: 'https://other.example.test/' } } })
    replicate(a, b)
    expect(b.repositories.require('npm-remote').settings.upstream).toEqual({ url: 'https://other.example.test/' })
  })

  it('are stored sealed on each node, and a peer event that carries credentials anyway does not set them', async () => {
    const a = await node()
    const b = await node()
    const url = 'https://registry.example.test/pypi/'
    a.repositories.create({ key: 'py-remote', format: 'pypi', type: 'remote', settings: { upstream: { url } } })
    replicate(a, b)
    b.repositories.update('py-remote', { settings: { upstream: { url, username: 'bob', password: 's3cret-of-b' } } })
    const raw = (b.db.prepare("SELECT settings FROM repositories WHERE key = 'py-remote'").get() as { settings: string }).settings
    expect(raw).not.toContain('s3cret-of-b')
    expect(JSON.parse(raw).upstream.password).toMatch(/^ak-sealed:v1:/)
    // A misbehaving peer's event with credentials in it: B keeps its own.
    const forge = (upstream: Record<string, unknown>) =>
      a.db.transaction(() => a.log.append({ repo: 'py-remote', kind: 'repo.update', payload: { format: 'pypi', type: 'remote', description: '', public: false, settings: { upstream } } }))()
    forge({ url, username: 'mallory', password: 'injected' })
    replicate(a, b)
    expect(b.repositories.require('py-remote').settings.upstream).toEqual({ url, username: 'bob', password: 's3cret-of-b' })
    // And on another URL it gets none at all.
    forge({ url: 'https://elsewhere.example.test/', password: 'injected' })
    replicate(a, b)
    expect(b.repositories.require('py-remote').settings.upstream).toEqual({ url: 'https://elsewhere.example.test/' })
  })
})
