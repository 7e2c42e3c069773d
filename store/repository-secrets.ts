import type { Db } from './db.ts'
import { isSealed, type SecretBox } from './secret-box.ts'

/**
 * Secrets a repository's settings may hold that never leave the node: a remote repository's
 * upstream credentials. Replicated settings carry the upstream URL only; each node that proxies the
 * same upstream keeps its own credentials (applied events preserve them, see mesh/sync/apply.ts).
 * At rest both are sealed with the node's secret key (store/secret-box.ts); RepositoryStore opens
 * them when it reads a row, so formats see `settings.upstream.password` in plain text.
 */
export const LOCAL_SECRET_SETTINGS = ['username', 'password'] as const

/** What outputs (API, CLI) show instead of an upstream password. */
export const MASKED_SECRET = '********'

type Settings = Record<string, unknown>

/** The associated data a sealed upstream field is bound to: a sealed value is valid for its repository and field only. */
function contextOf(repo: string, field: string): string {
  return `repository ${repo}\0upstream.${field}`
}

function mapUpstream(settings: Settings, f: (field: string, value: string) => string): Settings {
  const upstream = settings.upstream
  if (!upstream || typeof upstream !== 'object') return settings
  const copy: Record<string, unknown> = { ...(upstream as Record<string, unknown>) }
  for (const k of LOCAL_SECRET_SETTINGS) {
    const v = copy[k]
    if (typeof v === 'string') copy[k] = f(k, v)
  }
  return { ...settings, upstream: copy }
}

/**
 * The settings as stored: upstream credentials sealed. What callers pass is always plain text
 * (reads open every value), so everything is sealed, a password that looks sealed included.
 */
export function sealSettings<T extends Settings>(box: SecretBox, repo: string, settings: T): T {
  return mapUpstream(settings, (k, v) => box.seal(v, contextOf(repo, k))) as T
}

/** The settings as formats use them: upstream credentials opened. */
export function openSettings<T extends Settings>(box: SecretBox, repo: string, settings: T): T {
  return mapUpstream(settings, (k, v) => (isSealed(v) ? box.open(v, contextOf(repo, k)) : v)) as T
}

/** The settings as an output shows them: the upstream password masked. */
export function maskedSettings<T extends Settings>(settings: T): T {
  const upstream = settings.upstream
  if (!upstream || typeof upstream !== 'object' || (upstream as { password?: unknown }).password === undefined) return settings
  return { ...settings, upstream: { ...(upstream as Record<string, unknown>), password: MASKED_SECRET } }
}

export interface SealReport {
  /** Repositories whose plain-text credentials were sealed now. */
  sealed: string[]
}

/**
 * The migration of data directories from before secrets were sealed, run at every open: seals
 * each plain-text upstream credential in place (no event: credentials never replicate), and checks
 * that every sealed one opens with this key, so a wrong key file stops start-up instead of sending
 * garbage upstream. When something was sealed the database is vacuumed and its WAL truncated, so
 * the plain text survives in no free page and no WAL frame.
 */
export function sealPlainSecrets(db: Db, box: SecretBox): SealReport {
  const rows = db.prepare('SELECT key, settings FROM repositories').all() as { key: string; settings: string }[]
  const update = db.prepare('UPDATE repositories SET settings = ? WHERE key = ?')
  const sealed: string[] = []
  db.transaction(() => {
    for (const r of rows) {
      const settings = JSON.parse(r.settings) as Settings
      openSettings(box, r.key, settings) // throws on a value sealed under another key
      const up = settings.upstream as Record<string, unknown> | undefined
      if (!up || typeof up !== 'object' || !LOCAL_SECRET_SETTINGS.some((k) => typeof up[k] === 'string' && !isSealed(up[k]))) continue
      update.run(JSON.stringify(sealSettings(box, r.key, openSettings(box, r.key, settings))), r.key)
      sealed.push(r.key)
    }
  })()
  if (sealed.length > 0) {
    db.exec('VACUUM')
    db.pragma('wal_checkpoint(TRUNCATE)')
  }
  return { sealed }
}
