import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { describe, expect, it } from 'vitest'
import { requireClient } from '../helpers/clients.ts'
import { REPO_ROOT } from '../helpers/node-process.ts'

/*
 * No container engine runs here, so the compose file is validated by Debian's docker-compose
 * (`config` resolves anchors, merges and variables and rejects an invalid file), and the
 * resolved model is checked for the topology docs/airgap.md and the README describe.
 */

interface Service {
  image?: string
  build?: unknown
  read_only?: boolean
  tmpfs?: string[]
  environment?: Record<string, string>
  healthcheck?: { test: string[] }
  volumes?: ({ target: string } | string)[]
  secrets?: ({ source: string } | string)[]
  depends_on?: Record<string, { condition: string }> | string[]
}

const run = promisify(execFile)

describe('docker-compose.mesh.yml', () => {
  if (!requireClient('docker-compose', 'apt-get install -y docker-compose (or bash test/e2e/install-clients.sh)')) return

  const resolved = async (env: Record<string, string> = {}) => {
    const { stdout } = await run('docker-compose', ['-f', 'docker-compose.mesh.yml', 'config'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 60_000 })
    return parseYaml(stdout) as { services: Record<string, Service>; volumes: Record<string, unknown>; secrets: Record<string, { file: string }> }
  }

  it('is valid for docker-compose and defines three nodes joined by one mesh key, each bootstrapping to the others by name', async () => {
    const c = await resolved()
    const nodes = Object.entries(c.services).filter(([, s]) => s.environment?.AK_MESH_KEY_FILE)
    expect(nodes.map(([n]) => n).sort()).toEqual(['ak-1', 'ak-2', 'ak-3'])
    for (const [name, s] of nodes) {
      expect(s.environment?.AK_MESH_KEY_FILE).toBe('/run/secrets/mesh_key')
      expect(s.secrets?.map((x) => (typeof x === 'string' ? x : x.source))).toEqual(['mesh_key'])
      const others = nodes.map(([n]) => n).filter((n) => n !== name)
      const bootstrap = (s.environment?.AK_MESH_BOOTSTRAP ?? '').split(',')
      expect(bootstrap.sort()).toEqual(others.map((o) => `/dns4/${o}/tcp/8081`).sort())
      expect(s.read_only, name).toBe(true)
      expect(s.tmpfs).toContain('/tmp')
      expect(s.volumes?.map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target))).toContain('/data')
      expect(s.healthcheck?.test.join(' ')).toContain('/ready')
    }
    expect(c.secrets.mesh_key?.file).toBe(join(REPO_ROOT, 'mesh.key'))
  })

  it('stores ak-3 blobs in S3 on the MinIO service, after its bucket exists', async () => {
    const c = await resolved({ MINIO_ROOT_USER: 'someone', MINIO_ROOT_PASSWORD: 'something-secret' })
    const s3 = c.services['ak-3'] as Service
    expect(s3.environment).toMatchObject({ AK_STORAGE_BACKEND: 's3', AK_S3_ENDPOINT: 'http://minio:9000', AK_S3_ACCESS_KEY_ID: 'someone' })
    expect(c.services.minio?.environment?.MINIO_ROOT_USER).toBe('someone')
    expect(s3.depends_on).toMatchObject({ 'minio-bucket': { condition: 'service_completed_successfully' } })
    expect(c.services['ak-1']?.environment?.AK_STORAGE_BACKEND).toBeUndefined()
  })

  it('takes the admin password from the environment', async () => {
    const c = await resolved({ AK_ADMIN_PASSWORD: 'from-the-operator' })
    expect(c.services['ak-2']?.environment?.AK_ADMIN_PASSWORD).toBe('from-the-operator')
  })
})

describe('Dockerfile', () => {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
  const lines = text.split('\n').filter((l) => !l.trimStart().startsWith('#'))
  const runtime = lines.slice(lines.findIndex((l) => /^FROM .* AS runtime/.test(l)))

  it('builds in one stage and runs from node:20-slim with production dependencies only', () => {
    expect(lines.filter((l) => l.startsWith('FROM ')).length).toBeGreaterThanOrEqual(2)
    expect(runtime[0]).toMatch(/^FROM node:20-slim AS runtime/)
    expect(text).toMatch(/npm ci/)
    expect(text).toMatch(/npm prune --omit=dev/)
    expect(runtime.join('\n')).not.toMatch(/COPY (--\S+ )*(\.|test|bench) /)
  })

  it('runs the compiled build: dist/ from the build stage, no TypeScript sources in the runtime', () => {
    const r = runtime.join('\n')
    expect(r).toMatch(/COPY --from=build (--\S+ )*\/app\/dist \.\/dist/)
    expect(r).not.toMatch(/COPY (--\S+ )*(node|store|mesh|scheduler|formats) /)
  })

  it('runs as a non-root user with /data as its volume and a health check', () => {
    const user = runtime.filter((l) => l.startsWith('USER ')).pop()
    expect(user).toBeDefined()
    expect(user).not.toMatch(/USER (root|0)\b/)
    expect(runtime.join('\n')).toMatch(/VOLUME \["\/data"\]/)
    expect(runtime.join('\n')).toMatch(/HEALTHCHECK[\s\S]*\/ready/)
  })
})
