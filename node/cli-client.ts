/*
 * How `ak` subcommands reach a running node over its HTTP API (rather than opening the data
 * directory): --url, and credentials from --token (AK_TOKEN) or --user/--password
 * (AK_USER/AK_PASSWORD). Commander reads those environment variables for the options; the
 * default URL comes from the node configuration (http.publicUrl, else http.host:http.port).
 */
import { Option, type Command } from 'commander'
import type { Config } from './config.ts'

export interface ClientOptions {
  url?: string
  token?: string
  user?: string
  password?: string
}

/** A running node refused or failed an API call (or could not be reached). */
export class ApiClientError extends Error {
  override readonly name = 'ApiClientError'
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

/** Adds --url, --token, --user and --password to a command that talks to a running node. */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'base URL of the running node (default: from the config, http://127.0.0.1:8080)').env('AK_URL'))
    .addOption(new Option('--token <token>', 'API token (akt_…)').env('AK_TOKEN'))
    .addOption(new Option('--user <name>', 'user name, with --password').env('AK_USER'))
    .addOption(new Option('--password <password>', 'password of --user (prefer AK_PASSWORD: flags end up in shell history)').env('AK_PASSWORD'))
}

/** The node's own URL as its configuration describes it. */
export function configuredUrl(config: Config): string {
  if (config.http.publicUrl) return config.http.publicUrl
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`
}

function authorization(opts: ClientOptions): string | undefined {
  if (opts.token) return `Bearer ${opts.token}`
  if (opts.user) {
    if (opts.password === undefined) throw new ApiClientError('--user needs --password (or AK_PASSWORD)')
    return `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`
  }
  return undefined
}

/** Calls the node's API and returns its JSON answer; an error status becomes an ApiClientError. */
export async function apiCall<T>(config: Config, opts: ClientOptions, path: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<T> {
  const base = (opts.url ?? configuredUrl(config)).replace(/\/+$/, '')
  const auth = authorization(opts)
  let res: Response
  try {
    res = await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        accept: 'application/json',
        ...(auth ? { authorization: auth } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
    })
  } catch (err) {
    throw new ApiClientError(`cannot reach the node at ${base}: ${(err as Error).message}`)
  }
  const text = await res.text()
  let body: unknown
  try {
    body = text === '' ? undefined : JSON.parse(text)
  } catch {
    body = text
  }
  if (!res.ok) {
    const b = body as { error?: string; message?: string } | undefined
    const detail = b && typeof b === 'object' && b.message ? `${b.error ?? ''} ${b.message}`.trim() : String(text).slice(0, 200)
    throw new ApiClientError(`${init.method ?? 'GET'} ${path} answered ${res.status}: ${detail}`, res.status)
  }
  return body as T
}
