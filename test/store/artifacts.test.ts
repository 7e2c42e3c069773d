import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { compareHlc, ImmutableArtifactError, InvalidPathError, RepositoryExistsError, RepositoryNotFoundError } from '../../store/index.ts'
import { openTestStore, type StoreFixture } from './store-fixture.ts'

let f: StoreFixture
beforeEach(() => {
  f = openTestStore()
  f.store.repositories.create({ key: 'files', format: 'generic', type: 'local' })
})
afterEach(() => f.close())

async function put(path: string, content = path, overwrite = true, repo = 'files') {
  return f.store.artifacts.put({ repo, path, blob: await f.blob(content), overwrite })
}

const events = () => f.store.log.count()

describe('ArtifactStore listing', () => {
  // Names chosen to sit next to each other in byte order around '/', so the skip-scan must
  // neither merge 'a' with 'a-b' / 'a.c' / 'ab' nor miss names beyond U+FFFF (emoji).
  const paths = ['a/x', 'a/b/c', 'a/b/d', 'a-b/y', 'a.c', 'ab/z', 'b', 'é/1', '😀/2', 'z😀.txt', 'zz/😀.txt', 'zz/deep/er/f']

  beforeEach(async () => {
    for (const p of paths) await put(p)
  })

  it('lists the files and the immediate sub-directories of the root', () => {
    const { files, dirs } = f.store.artifacts.list('files', '')
    expect([...dirs].sort()).toEqual(['a', 'a-b', 'ab', 'zz', 'é', '😀'].sort())
    expect(files.map((a) => a.path).sort()).toEqual(['a.c', 'b', 'z😀.txt'].sort())
  })

  it('lists a nested directory', () => {
    expect(f.store.artifacts.list('files', 'a')).toMatchObject({ dirs: ['b'], files: [{ path: 'a/x' }] })
    expect(f.store.artifacts.list('files', 'a/b').files.map((a) => a.path)).toEqual(['a/b/c', 'a/b/d'])
    expect(f.store.artifacts.list('files', 'zz')).toMatchObject({ dirs: ['deep'], files: [{ path: 'zz/😀.txt' }] })
    expect(f.store.artifacts.list('files', 'nothing')).toEqual({ files: [], dirs: [] })
  })

  it('knows which directories have content, emoji names included', () => {
    for (const d of ['a', 'a/b', 'a-b', 'zz', 'zz/deep', '😀', 'é']) expect(f.store.artifacts.hasTree('files', d), d).toBe(true)
    for (const d of ['a/x', 'b', 'nothing', 'a/b/c', 'z']) expect(f.store.artifacts.hasTree('files', d), d).toBe(false)
  })

  it('deleteTree removes exactly the subtree, with one event per artifact', () => {
    const before = events()
    expect(f.store.artifacts.deleteTree('files', 'a')).toBe(3)
    expect(events()).toBe(before + 3)
    const left = f.store.artifacts.list('files', '')
    expect([...left.dirs].sort()).toEqual(['a-b', 'ab', 'zz', 'é', '😀'].sort())
    expect(f.store.artifacts.get('files', 'a.c')).toBeDefined()
    expect(f.store.artifacts.deleteTree('files', 'zz')).toBe(2)
    expect(f.store.artifacts.deleteTree('files', 'zz')).toBe(0)
    expect(f.store.artifacts.deleteTree('files', '')).toBe(paths.length - 5)
    expect(f.store.artifacts.count('files')).toBe(0)
  })
})

describe('regressions', () => {
  it('lists a directory holding a name beyond U+FFFF without looping forever', async () => {
    // Bug: the skip-scan bounded its range with U+FFFF, but SQLite compares UTF-8 bytes, where an
    // emoji (F0…) sorts above U+FFFF (EF BF BF): list() found 'zz/😀.txt' past 'zz/\uffff' again and
    // again, hanging the event loop. The listing runs in a child so a regression fails, not hangs.
    for (const p of ['zz/😀.txt', 'zz/b', 'a']) await put(p)
    const storeIndex = resolve(import.meta.dirname, '../../store/index.ts')
    const code = `
      import { openStore, createMemoryDriver } from ${JSON.stringify(storeIndex)}
      const s = openStore({ dataDir: ${JSON.stringify(f.dataDir)}, driver: createMemoryDriver(), nodeId: 'child' })
      const l = s.artifacts.list('files', '')
      process.stdout.write(JSON.stringify({ dirs: l.dirs, files: l.files.map((a) => a.path), has: s.artifacts.hasTree('files', 'zz') }))
      s.close()`
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeout: 30_000, encoding: 'utf8' })
    expect(child.error, 'the listing did not finish within 30 s').toBeUndefined()
    expect(JSON.parse(child.stdout)).toEqual({ dirs: ['zz'], files: ['a'], has: true })
  })
})

describe('ArtifactStore writes', () => {
  it('refuses different bytes on an existing path when overwrite is false, and keeps the original', async () => {
    const first = await put('lib/app.jar', 'one', false)
    expect(first.created).toBe(true)
    const before = events()
    await expect(put('lib/app.jar', 'two', false)).rejects.toBeInstanceOf(ImmutableArtifactError)
    expect(f.store.artifacts.get('files', 'lib/app.jar')?.sha256).toBe(first.artifact.sha256)
    expect(events()).toBe(before)
  })

  it('accepts the same bytes again on an immutable path without a new event', async () => {
    await put('lib/app.jar', 'one', false)
    const before = events()
    const again = await put('lib/app.jar', 'one', false)
    expect(again).toMatchObject({ created: false, replaced: undefined })
    expect(events()).toBe(before)
  })

  it('replaces different bytes when overwrite is true and reports what it replaced', async () => {
    const first = await put('lib/app.jar', 'one')
    const second = await put('lib/app.jar', 'two')
    expect(second.created).toBe(false)
    expect(second.replaced?.sha256).toBe(first.artifact.sha256)
    expect(f.store.artifacts.get('files', 'lib/app.jar')?.size).toBe(3)
  })

  it('appends one event per change: create, put, replace, delete', async () => {
    const start = events()
    await put('x.txt', 'one')
    await put('y.txt', 'two')
    await put('x.txt', 'three')
    expect(f.store.artifacts.delete('files', 'x.txt')).toBe(true)
    expect(f.store.artifacts.delete('files', 'x.txt')).toBe(false)
    expect(events()).toBe(start + 4)
    const log = f.store.log.since('test-node', 0, 100)
    expect(log.map((e) => e.kind)).toEqual(['repo.create', 'artifact.put', 'artifact.put', 'artifact.put', 'artifact.delete'])
    expect(log.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
    for (let i = 1; i < log.length; i++) expect(compareHlc(log[i - 1]!.hlc, log[i]!.hlc)).toBeLessThan(0)
    expect(f.store.log.versionVector()).toEqual({ 'test-node': 5 })
  })

  it('rolls back the artifact and its event together when the surrounding transaction fails', async () => {
    const blob = await f.blob('rolled back')
    const before = events()
    expect(() =>
      f.store.artifacts.transaction(() => {
        f.store.artifacts.put({ repo: 'files', path: 'r.txt', blob, overwrite: true })
        throw new Error('format index update failed')
      }),
    ).toThrow('format index update failed')
    expect(f.store.artifacts.get('files', 'r.txt')).toBeUndefined()
    expect(events()).toBe(before)
    expect(f.store.blobIndex.get(blob.sha256)).toBeUndefined()
  })

  it('refuses an invalid path', async () => {
    await expect(put('../x')).rejects.toBeInstanceOf(InvalidPathError)
    await expect(put('a//b')).rejects.toBeInstanceOf(InvalidPathError)
  })
})

describe('RepositoryStore', () => {
  it('deleting a repository removes its artifacts and permissions and logs one event', async () => {
    await put('a/1', '1')
    await put('a/2', '2')
    f.store.repositories.create({ key: 'other', format: 'generic', type: 'local' })
    await put('keep', 'k', true, 'other')
    f.store.auth.createUser({ name: 'u', passwordHash: 'x' })
    f.store.auth.setPermission({ repo: 'files', principalType: 'user', principal: 'u', actions: ['read'] })
    const before = events()
    expect(f.store.repositories.delete('files')).toEqual({ artifacts: 2 })
    expect(events()).toBe(before + 1)
    expect(f.store.artifacts.count('files')).toBe(0)
    expect(f.store.artifacts.count('other')).toBe(1)
    expect(f.store.auth.listPermissions('files')).toEqual([])
    expect(() => f.store.repositories.require('files')).toThrow(RepositoryNotFoundError)
    // A new repository with the same key starts empty.
    f.store.repositories.create({ key: 'files', format: 'generic', type: 'local' })
    expect(f.store.artifacts.list('files', '')).toEqual({ files: [], dirs: [] })
  })

  it('refuses a duplicate key and an invalid key', () => {
    expect(() => f.store.repositories.create({ key: 'files', format: 'generic', type: 'local' })).toThrow(RepositoryExistsError)
    expect(() => f.store.repositories.create({ key: 'Bad Key', format: 'generic', type: 'local' })).toThrow(InvalidPathError)
  })

  it('updates settings and keeps what the patch leaves out', () => {
    const r = f.store.repositories.update('files', { public: true, settings: { immutable: true } })
    expect(r).toMatchObject({ public: true, settings: { immutable: true } })
    expect(f.store.repositories.update('files', { description: 'd' })).toMatchObject({ public: true, description: 'd', settings: { immutable: true } })
  })
})
