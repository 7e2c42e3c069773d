import { artifactFromRow, type Artifact, type ArtifactRow } from '../artifacts.ts'
import type { Db } from '../db.ts'
import { compareHlc, type Hlc } from '../hlc.ts'
import { validateArtifactPath } from '../paths.ts'
import type { FormatReplicationHooks } from '../replication-hooks.ts'

/*
 * The format side of applying replicated events: mutable pointers (last writer wins by HLC) and
 * the formats' replication hooks (store/replication-hooks.ts), which keep their index tables in
 * step. applier.ts calls in here; everything runs inside its applying transaction.
 */

/** Reports a hook that threw; its change was rolled back alone and the batch went on. */
export type HookErrorHandler = (err: unknown, what: { format: string; repo: string; path: string }) => void

/** Reports a replicated path or pointer name that was refused (left unmaterialised) and why. */
export type RefusedHandler = (what: { repo: string; path: string; reason: string }) => void

/** Routes replicated changes to the hooks of the repository's format. */
export interface HookDispatch {
  /**
   * Why a replicated path of `repo` may not be materialised: the store's path rules, then the
   * format's own (FormatReplicationHooks.pathProblem). Undefined when it may.
   */
  pathProblem(repo: string, path: string): string | undefined
  /** The same for a pointer name (the format's pointerProblem). */
  pointerProblem(repo: string, name: string): string | undefined
  /** The package name the repository's format reads from an artifact's properties (FormatReplicationHooks.packageName). */
  packageName(repo: string, properties: Record<string, unknown> | undefined): string | undefined
  /** Whether `path` of `repo` is a mutable path of its format (latest write wins even in an immutable repository). */
  isMutablePath(repo: string, path: string): boolean
  /** (repo, path) was recomputed: hands its current artifact row (or undefined) to the format's hook. */
  artifactChanged(repo: string, path: string): void
  /** Pointer (repo, name) has a new winner. */
  pointerChanged(repo: string, name: string, value: unknown): void
  /** Forgets cached repository formats (call when a batch starts: repositories may have changed). */
  reset(): void
}

export interface PointerApplier {
  /**
   * Recomputes pointer (repo, name) from every pointer event held for it: the latest by HLC
   * (then origin peer ID, then sequence) wins; a delete leaves a tombstone. Independent of the
   * order events arrived in. Tells the format's hook when the winner changed.
   */
  recompute(repo: string, name: string): void
}

export function isPointerKind(kind: string): boolean {
  return kind === 'pointer.set' || kind === 'pointer.delete'
}

export function createHookDispatch(db: Db, hooks: readonly FormatReplicationHooks[], onError: HookErrorHandler = () => {}): HookDispatch {
  const byFormat = new Map(hooks.map((h) => [h.format, h]))
  const formatOf = db.prepare('SELECT format FROM repositories WHERE key = ?')
  const getArtifact = db.prepare('SELECT * FROM artifacts WHERE repo = ? AND path = ?')
  // Two lookups per applied event otherwise (isMutablePath, artifactChanged): cached per batch.
  const formats = new Map<string, string | undefined>()
  const hookOf = (repo: string): FormatReplicationHooks | undefined => {
    if (byFormat.size === 0) return undefined
    let format = formats.get(repo)
    if (format === undefined && !formats.has(repo)) {
      format = (formatOf.get(repo) as { format: string } | undefined)?.format
      formats.set(repo, format)
    }
    return format === undefined ? undefined : byFormat.get(format)
  }
  /** Runs a hook in a savepoint: one that throws loses its own writes, never the batch. */
  const guarded = (hook: FormatReplicationHooks, repo: string, path: string, fn: () => void) => {
    try {
      db.transaction(fn)()
    } catch (err) {
      onError(err, { format: hook.format, repo, path })
    }
  }
  return {
    reset: () => formats.clear(),
    pathProblem: (repo, path) => {
      try {
        validateArtifactPath(path)
      } catch (err) {
        return (err as Error).message
      }
      return hookOf(repo)?.pathProblem?.(path)
    },
    pointerProblem: (repo, name) => hookOf(repo)?.pointerProblem?.(name),
    packageName: (repo, properties) => (properties ? hookOf(repo)?.packageName?.(properties) : undefined),
    isMutablePath: (repo, path) => hookOf(repo)?.isMutablePath?.(path) === true,
    artifactChanged: (repo, path) => {
      const hook = hookOf(repo)
      if (!hook?.artifactChanged) return
      const r = getArtifact.get(repo, path) as ArtifactRow | undefined
      const artifact: Artifact | undefined = r && artifactFromRow(r)
      guarded(hook, repo, path, () => hook.artifactChanged?.({ repo, format: hook.format, path, artifact }))
    },
    pointerChanged: (repo, name, value) => {
      const hook = hookOf(repo)
      if (!hook?.pointerChanged) return
      guarded(hook, repo, name, () => hook.pointerChanged?.({ repo, format: hook.format, name, value }))
    },
  }
}

interface PointerEvent {
  origin: string
  seq: number
  hlc: Hlc
  kind: string
  /** JSON text of the value; null for a delete. */
  value: string | null
}

/** The same total order as artifact events: HLC, then origin peer ID, then sequence. */
function order(a: PointerEvent, b: PointerEvent): number {
  return compareHlc(a.hlc, b.hlc) || (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0) || a.seq - b.seq
}

export function createPointerApplier(db: Db, dispatch: HookDispatch): PointerApplier {
  const events = db.prepare(`SELECT origin, seq, hlc_ms, hlc_counter, kind, payload FROM events
    WHERE repo = ? AND path = ? AND kind IN ('pointer.set', 'pointer.delete')`)
  const hasRepo = db.prepare('SELECT 1 FROM repositories WHERE key = ?')
  const current = db.prepare('SELECT value, hlc_ms, hlc_counter, origin FROM pointers WHERE repo = ? AND name = ?')
  const upsert = db.prepare(`INSERT INTO pointers (repo, name, value, hlc_ms, hlc_counter, origin)
    VALUES (@repo, @name, @value, @hlc_ms, @hlc_counter, @origin)
    ON CONFLICT (repo, name) DO UPDATE SET value = excluded.value, hlc_ms = excluded.hlc_ms,
      hlc_counter = excluded.hlc_counter, origin = excluded.origin`)

  type Row = { origin: string; seq: number; hlc_ms: number; hlc_counter: number; kind: string; payload: string }
  const toEvent = (r: Row): PointerEvent | undefined => {
    if (r.kind === 'pointer.delete') return { origin: r.origin, seq: r.seq, hlc: { ms: r.hlc_ms, counter: r.hlc_counter }, kind: r.kind, value: null }
    let value: unknown
    try {
      value = (JSON.parse(r.payload) as { value?: unknown }).value
    } catch {
      return undefined
    }
    // A set without a value (signed, but not by this code) changes nothing.
    if (value === undefined) return undefined
    return { origin: r.origin, seq: r.seq, hlc: { ms: r.hlc_ms, counter: r.hlc_counter }, kind: r.kind, value: JSON.stringify(value) }
  }

  return {
    recompute(repo, name) {
      if (!hasRepo.get(repo)) return
      let winner: PointerEvent | undefined
      for (const r of events.all(repo, name) as Row[]) {
        const e = toEvent(r)
        if (e && (!winner || order(e, winner) > 0)) winner = e
      }
      if (!winner) return
      const now = current.get(repo, name) as { value: string | null; hlc_ms: number; hlc_counter: number; origin: string } | undefined
      if (now && now.value === winner.value && now.hlc_ms === winner.hlc.ms && now.hlc_counter === winner.hlc.counter && now.origin === winner.origin) return
      upsert.run({ repo, name, value: winner.value, hlc_ms: winner.hlc.ms, hlc_counter: winner.hlc.counter, origin: winner.origin })
      if (now?.value === winner.value) return
      dispatch.pointerChanged(repo, name, winner.value === null ? undefined : (JSON.parse(winner.value) as unknown))
    },
  }
}
