// Mutable pointers applied from replicated events must not depend on the order the events arrive
// in: the last writer by HLC wins (then origin peer ID), and a removal is a tombstone that beats
// every older set, however late that set turns up. Real stores (SQLite on temp dirs), real applier.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryDriver, openStore, type FormatReplicationHooks, type SignedEvent, type Store } from '../../store/index.ts'
import { createEventApplier, replicationState } from '../../store/index.ts'

const opened: { store: Store; dir: string }[] = []
function node(id: string): Store {
  const dir = mkdtempSync(join(tmpdir(), 'ak-pointers-'))
  const store = openStore({ dataDir: dir, driver: createMemoryDriver(), nodeId: id })
  opened.push({ store, dir })
  return store
}
afterEach(() => {
  for (const { store, dir } of opened.splice(0)) {
    store.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

const all = (s: Store): SignedEvent[] => s.log.sinceSigned(s.log.origin, 0, 1000)
const tick = () => new Promise((r) => setTimeout(r, 5))

describe('pointer events under replication', () => {
  it('converge to the latest write by HLC and keep tombstones, whatever the order of arrival', async () => {
    const a = node('12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')
    const c = node('12D3KooWCccccccccccccccccccccccccccccccccccccccccccc')
    a.repositories.create({ key: 'r', format: 'npm', type: 'local' })
    a.db.transaction(() => a.pointers.set('r', 'dist-tag/p/next', '1.0.0'))()
    await tick()
    // C learns the repository from A, then writes later than A's first set.
    createEventApplier(c.db, c.log).apply(all(a))
    c.db.transaction(() => {
      c.pointers.set('r', 'dist-tag/p/next', '2.0.0')
      c.pointers.set('r', 'dist-tag/p/old', '0.1.0')
    })()
    await tick()
    // A removes `old` after C set it (A never saw C's set): the removal is later, so it wins.
    a.db.transaction(() => a.pointers.delete('r', 'dist-tag/p/old'))()
    const events = [...all(a), ...all(c)]

    const results: string[] = []
    for (const arrival of [events, [...events].reverse(), [events[0] as SignedEvent, ...events.slice(1).reverse()]]) {
      const b = node('12D3KooWBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')
      const seen: string[] = []
      const hooks: FormatReplicationHooks[] = [{ format: 'npm', pointerChanged: (ch) => void seen.push(`${ch.name}=${String(ch.value)}`) }]
      const applier = createEventApplier(b.db, b.log, { hooks })
      // One event per batch: the repository's creation must come first for anything to apply.
      applier.apply([events[0] as SignedEvent])
      for (const e of arrival) applier.apply([e])
      expect(b.pointers.get('r', 'dist-tag/p/next')?.value).toBe('2.0.0')
      expect(b.pointers.get('r', 'dist-tag/p/old')).toBeUndefined()
      expect(b.pointers.list('r', 'dist-tag/p/').map((p) => p.name)).toEqual(['dist-tag/p/next'])
      expect(b.pointers.list('r', 'dist-tag/p/', { removed: true }).map((p) => p.name)).toEqual(['dist-tag/p/next', 'dist-tag/p/old'])
      // The hook heard the final value of every pointer last.
      expect(seen.filter((s) => s.startsWith('dist-tag/p/next')).pop()).toBe('dist-tag/p/next=2.0.0')
      results.push(replicationState(b.db, b.log).hash)
    }
    expect(new Set(results).size).toBe(1)

    // The writers themselves converge to the same state once they hold each other's events.
    createEventApplier(a.db, a.log).apply(all(c))
    createEventApplier(c.db, c.log).apply(all(a))
    expect(replicationState(a.db, a.log).hash).toBe(results[0])
    expect(replicationState(c.db, c.log).hash).toBe(results[0])
    expect(replicationState(a.db, a.log).pointers).toBe(2)
  })

  it('a pointer write refuses to run outside the change transaction, and an unchanged value appends no event', () => {
    const a = node('12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')
    a.repositories.create({ key: 'r', format: 'npm', type: 'local' })
    expect(() => a.pointers.set('r', 'x', 1)).toThrow(/inside the change transaction/)
    const before = a.log.count()
    expect(a.db.transaction(() => a.pointers.set('r', 'x', { v: 1 }))()).toBe(true)
    expect(a.db.transaction(() => a.pointers.set('r', 'x', { v: 1 }))()).toBe(false)
    expect(a.log.count()).toBe(before + 1)
    const [e] = a.log.since(a.log.origin, before, 10)
    expect(e).toMatchObject({ kind: 'pointer.set', path: 'x', payload: { value: { v: 1 } } })
  })
})
