import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMemoryDriver, createSecretBox, loadOrCreateSecretKey, openStore, SEALED_PREFIX, StorageError } from '../../store/index.ts'
import { tempDir } from '../helpers/node-process.ts'

describe('SecretBox', () => {
  const box = createSecretBox(Buffer.alloc(32, 7))

  it('opens what it sealed for the same context only, and refuses altered text', () => {
    const sealed = box.seal('hunter2', 'repository a\0upstream.password')
    expect(sealed.startsWith(SEALED_PREFIX)).toBe(true)
    expect(sealed).not.toContain('hunter2')
    expect(box.seal('hunter2', 'repository a\0upstream.password')).not.toBe(sealed) // a fresh nonce each time
    expect(box.open(sealed, 'repository a\0upstream.password')).toBe('hunter2')
    expect(() => box.open(sealed, 'repository b\0upstream.password')).toThrow(StorageError)
    const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64')
    raw[raw.length - 1] = (raw[raw.length - 1] as number) ^ 1
    expect(() => box.open(SEALED_PREFIX + raw.toString('base64'), 'repository a\0upstream.password')).toThrow(StorageError)
    expect(() => createSecretBox(Buffer.alloc(32, 8)).open(sealed, 'repository a\0upstream.password')).toThrow(/secret key/)
  })

  it('creates the key file once (0600) and reads the same key again; a named file must exist', () => {
    const dir = tempDir('ak-key-')
    const file = join(dir, 'secret-key')
    const key = loadOrCreateSecretKey(file)
    expect(key).toHaveLength(32)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/)
    expect(loadOrCreateSecretKey(file).equals(key)).toBe(true)
    expect(() => loadOrCreateSecretKey(join(dir, 'absent'), { create: false })).toThrow(/does not exist/)
    writeFileSync(join(dir, 'short'), 'abcd\n')
    expect(() => loadOrCreateSecretKey(join(dir, 'short'))).toThrow(/64 hex digits/)
  })

  it('round-trips a password that itself looks sealed (it is sealed like any other)', () => {
    const store = openStore({ dataDir: tempDir('ak-sealed-'), driver: createMemoryDriver(), nodeId: 'n' })
    try {
      const password = `${SEALED_PREFIX}not-really`
      store.repositories.create({ key: 'r', format: 'generic', type: 'remote', settings: { upstream: { url: 'http://127.0.0.1:1/', username: 'u', password } } })
      expect(store.repositories.require('r').settings.upstream).toEqual({ url: 'http://127.0.0.1:1/', username: 'u', password })
      expect(store.repositories.list()).toHaveLength(1)
    } finally {
      store.close()
    }
  })
})
