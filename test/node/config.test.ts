import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, ENV_VARS, loadConfig } from '../../node/index.ts'

let dir: string
let file: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ak-config-'))
  file = join(dir, 'ak.yaml')
  writeFileSync(
    file,
    [
      'dataDir: ./from-file',
      'logLevel: warn',
      'http:',
      '  port: 1111',
      '  host: 0.0.0.0',
      'limits:',
      '  maxUploadBytes: 1000',
      'auth:',
      '  maxFailedLoginsPerUser: 4',
    ].join('\n'),
  )
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('configuration', () => {
  it('layers defaults < YAML file < environment < flags', () => {
    const c = loadConfig({
      file,
      env: { AK_HTTP_PORT: '2222', AK_MAX_UPLOAD_BYTES: '3000' },
      flags: { 'http.port': 3333 },
    })
    expect(c.http.port).toBe(3333) // flag beats env and file
    expect(c.limits.maxUploadBytes).toBe(3000) // env beats file
    expect(c.logLevel).toBe('warn') // file beats default
    expect(c.http.host).toBe('0.0.0.0')
    expect(c.auth.maxFailedLoginsPerUser).toBe(4)
    expect(c.auth.maxFailedLoginsPerAddress).toBe(30) // default, beside a file value in the same section
    expect(c.gc.graceMs).toBe(60 * 60 * 1000)
    expect(isAbsolute(c.dataDir)).toBe(true)
    expect(c.dataDir.endsWith('from-file')).toBe(true)
  })

  it('reads the file named by AK_CONFIG and ignores empty environment values', () => {
    const c = loadConfig({ env: { AK_CONFIG: file, AK_HTTP_PORT: '' } })
    expect(c.http.port).toBe(1111)
  })

  it('parses booleans and numbers from the environment', () => {
    const c = loadConfig({
      env: { AK_STORAGE_BACKEND: 's3', AK_S3_BUCKET: 'b', AK_S3_FORCE_PATH_STYLE: 'yes', AK_S3_PART_SIZE: String(8 * 1024 * 1024) },
    })
    expect(c.storage).toMatchObject({ backend: 's3', s3: { bucket: 'b', forcePathStyle: true, partSize: 8 * 1024 * 1024 } })
  })

  it.each([
    ['AK_HTTP_PORT', 'eighty'],
    ['AK_HTTP_PORT', '70000'],
    ['AK_MAX_UPLOAD_BYTES', '-5'],
    ['AK_LOG_LEVEL', 'loud'],
    ['AK_BODY_IDLE_TIMEOUT_MS', '0'],
    ['AK_ADMIN_PASSWORD', 'short'],
    ['AK_S3_FORCE_PATH_STYLE', 'maybe'],
    ['AK_PUBLIC_URL', 'not a url'],
    ['AK_TRUSTED_PROXIES', '10.0.0.1,proxy.example.com'],
    ['AK_TRUSTED_PROXIES', '10.0.0.0/33'],
  ])('names the environment variable of a bad value (%s=%s)', (name, value) => {
    const err = configError(() => loadConfig({ env: { [name]: value } }))
    expect(err.message).toContain(name)
    expect(err.message).toContain(ENV_VARS[name] as string)
  })

  it('reads trusted proxies as a comma-separated list of IPs and CIDR blocks (none by default)', () => {
    expect(loadConfig({ env: {} }).http.trustedProxies).toEqual([])
    expect(loadConfig({ env: { AK_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8,fd00::/8' } }).http.trustedProxies).toEqual(['127.0.0.1', '10.0.0.0/8', 'fd00::/8'])
  })

  it('reports every bad value at once', () => {
    const err = configError(() => loadConfig({ env: { AK_HTTP_PORT: 'x', AK_GC_GRACE_MS: '-1' } }))
    expect(err.message).toContain('AK_HTTP_PORT')
    expect(err.message).toContain('AK_GC_GRACE_MS')
  })

  it('asks for the bucket when the S3 backend is chosen without one', () => {
    expect(configError(() => loadConfig({ env: { AK_STORAGE_BACKEND: 's3' } })).message).toContain('AK_S3_BUCKET')
  })

  it('refuses unknown keys, invalid YAML and a missing file', () => {
    const unknown = join(dir, 'unknown.yaml')
    writeFileSync(unknown, 'http:\n  prot: 80\n')
    expect(configError(() => loadConfig({ file: unknown, env: {} })).message).toMatch(/prot/)
    const broken = join(dir, 'broken.yaml')
    writeFileSync(broken, 'http: [unclosed\n')
    expect(configError(() => loadConfig({ file: broken, env: {} })).message).toContain(broken)
    expect(configError(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} })).message).toContain('missing.yaml')
    const list = join(dir, 'list.yaml')
    writeFileSync(list, '- a\n- b\n')
    expect(configError(() => loadConfig({ file: list, env: {} })).message).toContain('mapping')
  })
})
