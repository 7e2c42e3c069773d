import { createHash, randomUUID } from 'node:crypto'
import { generateMeshKey } from '../../../mesh/index.ts'
import { ADMIN_BASIC, basic, startTestNode, type TestNode } from '../../helpers/test-node.ts'
import { makePackageTgz, publishDocument } from '../../formats/npm/fixtures.ts'
import { buildWheel, twineFields, uploadForm, wheelFilename } from '../../e2e/pypi/dists.ts'
import { pomFor } from '../../e2e/maven/support.ts'
import { crateFile, publishBody, publishMetadata } from '../../e2e/cargo/crate-builder.ts'
import { libraryModule } from '../../e2e/go/module-zips.ts'
import { chartTgz } from '../../e2e/helm/charts.ts'
import { ROLES, type Role } from './expected.ts'

/**
 * The node the authorisation matrix runs against, and everything its rows name: one private
 * local repository of every format holding one artifact, the users and tokens of each role,
 * and per-role victims for the destructive routes (each role deletes its own, so the order in
 * which roles run never changes an answer).
 */
export interface MatrixFixture {
  node: TestNode
  /** The Authorization header of each role (none for anonymous). */
  auth: Record<Role, string | undefined>
  /** Fills a row's URL template for one role: {role}, {self}, {victimToken}, {blob}, … */
  fill(template: string, role: Role): string
  close(): Promise<void>
}

export const REPO_ADMIN_USER = 'repoadmin'
const REPO_ADMIN_PASSWORD = 'repoadmin-password'
/** The repository the "token of another repository" is scoped to; no fixture row names it. */
export const ELSEWHERE = 'elsewhere'

/** The fixture repositories, one per format; the repository admin administers exactly these. */
export const REPOS = {
  generic: 'm-generic',
  npm: 'm-npm',
  pypi: 'm-pypi',
  maven: 'm-maven',
  oci: 'm-oci',
  cargo: 'm-cargo',
  go: 'm-go',
  helm: 'm-helm',
} as const

/** A role as it appears in fixture names (repository keys are lower case). */
const slug = (role: Role) => role.toLowerCase()

const GO_MODULE = 'example.com/matrix'

async function call(node: TestNode, method: string, path: string, init: { auth?: string; body?: RequestInit['body']; type?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: init.auth ?? ADMIN_BASIC }
  if (init.type) headers['content-type'] = init.type
  const res = await fetch(`${node.url}${path}`, { method, headers, body: init.body, signal: AbortSignal.timeout(15_000) })
  if (res.status >= 300) throw new Error(`fixture ${method} ${path} answered ${res.status}: ${await res.text()}`)
  return res
}

const json = (node: TestNode, method: string, path: string, body: unknown) =>
  call(node, method, path, { body: JSON.stringify(body), type: 'application/json' })

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** Publishes one artifact into each fixture repository through the format's own upload route. */
async function publishArtifacts(node: TestNode): Promise<{ blob: string; ociBlob: string; ociManifest: string }> {
  const file = Buffer.from('the matrix fixture file\n')
  await call(node, 'PUT', `/generic/${REPOS.generic}/matrix/file.txt`, { body: file, type: 'text/plain' })

  const tgz = await makePackageTgz({ name: 'matrix-pkg', version: '1.0.0' })
  await json(node, 'PUT', `/npm/${REPOS.npm}/matrix-pkg`, publishDocument('matrix-pkg', '1.0.0', tgz))

  const wheel = await buildWheel({ name: 'matrix-dist', version: '1.0', files: { 'matrix_dist/__init__.py': 'X = 1\n' } })
  await call(node, 'POST', `/pypi/${REPOS.pypi}/`, { body: uploadForm(wheelFilename('matrix-dist', '1.0'), wheel, twineFields('matrix-dist', '1.0', 'bdist_wheel', wheel)) })

  await call(node, 'PUT', `/maven/${REPOS.maven}/com/example/lib/1.0/lib-1.0.pom`, { body: pomFor('com.example', 'lib', '1.0'), type: 'application/xml' })

  const config = Buffer.from('{"architecture":"amd64","os":"linux"}')
  const layer = Buffer.from('a layer that is not really a tarball')
  for (const b of [config, layer]) {
    await call(node, 'POST', `/v2/${REPOS.oci}/app/blobs/uploads/?digest=sha256:${sha256(b)}`, { body: b, type: 'application/octet-stream' })
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha256(layer)}`, size: layer.length }],
  })
  await call(node, 'PUT', `/v2/${REPOS.oci}/app/manifests/1.0`, { body: manifest, type: 'application/vnd.oci.image.manifest.v1+json' })

  const crate = await crateFile('matrix-crate', '0.1.0')
  await call(node, 'PUT', `/cargo/${REPOS.cargo}/api/v1/crates/new`, { body: publishBody(publishMetadata('matrix-crate', '0.1.0'), crate) })

  await call(node, 'PUT', `/go/${REPOS.go}/${GO_MODULE}/@v/v1.0.0.zip`, { body: await libraryModule(GO_MODULE, 'v1.0.0', 'hello') })

  await call(node, 'POST', `/helm/${REPOS.helm}/api/charts`, { body: await chartTgz({ name: 'matrix-chart', version: '0.1.0' }), type: 'application/gzip' })

  return { blob: sha256(file), ociBlob: `sha256:${sha256(layer)}`, ociManifest: `sha256:${sha256(manifest)}` }
}

async function createToken(node: TestNode, user: string, repos: string[], access: string, name: string): Promise<{ id: string; token: string }> {
  const res = await json(node, 'POST', '/api/v1/tokens', { user, repos, access, name })
  return (await res.json()) as { id: string; token: string }
}

/**
 * Starts the node (listening on loopback, mesh on so the chunk routes answer as in production)
 * and builds the fixture:
 * - node admin: `admin` (Basic password);
 * - repository admin: `repoadmin` (Basic password), admin on the fixture repositories only;
 * - read-only and write tokens: tokens of `repoadmin` with access read and write, so every
 *   refusal they get comes from the token's access level, not from the user's grants;
 * - token of another repository: a token of the node admin with access admin scoped to
 *   `elsewhere`, so every refusal it gets comes from the token's repository scope.
 */
export async function startMatrixFixture(): Promise<MatrixFixture> {
  const node = await startTestNode({ listen: true, flags: { 'mesh.enabled': true, 'mesh.port': 0, 'mesh.key': generateMeshKey() } })
  try {
    const repoKeys = [...Object.values(REPOS), ...ROLES.map((r) => `drop-${slug(r)}`)]
    for (const [format, key] of Object.entries(REPOS)) await json(node, 'POST', '/api/v1/repositories', { key, format })
    for (const r of ROLES) await json(node, 'POST', '/api/v1/repositories', { key: `drop-${slug(r)}`, format: 'generic' })
    await json(node, 'POST', '/api/v1/repositories', { key: ELSEWHERE, format: 'generic' })

    await json(node, 'POST', '/api/v1/users', { name: REPO_ADMIN_USER, password: REPO_ADMIN_PASSWORD })
    for (const repo of repoKeys) {
      await json(node, 'PUT', '/api/v1/permissions', { repo, principalType: 'user', principal: REPO_ADMIN_USER, actions: ['admin'] })
    }
    const victimTokens: Record<string, string> = {}
    for (const r of ROLES) {
      await json(node, 'POST', '/api/v1/users', { name: `victim-${slug(r)}`, password: 'victim-password' })
      await json(node, 'POST', '/api/v1/groups', { name: `group-${slug(r)}` })
      await json(node, 'POST', '/api/v1/groups', { name: `perm-${slug(r)}` })
      await json(node, 'PUT', '/api/v1/permissions', { repo: REPOS.generic, principalType: 'group', principal: `perm-${slug(r)}`, actions: ['read'] })
      victimTokens[r] = (await createToken(node, REPO_ADMIN_USER, ['*'], 'read', `victim of ${r}`)).id
    }

    const readToken = await createToken(node, REPO_ADMIN_USER, ['*'], 'read', 'matrix read-only')
    const writeToken = await createToken(node, REPO_ADMIN_USER, ['*'], 'write', 'matrix write')
    const otherToken = await createToken(node, 'admin', [ELSEWHERE], 'admin', 'matrix other repository')
    const published = await publishArtifacts(node)

    const auth: Record<Role, string | undefined> = {
      anonymous: undefined,
      otherRepoToken: `Bearer ${otherToken.token}`,
      readToken: `Bearer ${readToken.token}`,
      writeToken: `Bearer ${writeToken.token}`,
      repoAdmin: basic(REPO_ADMIN_USER, REPO_ADMIN_PASSWORD),
      nodeAdmin: ADMIN_BASIC,
    }
    const self: Record<Role, string> = {
      anonymous: 'admin',
      otherRepoToken: 'admin',
      readToken: REPO_ADMIN_USER,
      writeToken: REPO_ADMIN_USER,
      repoAdmin: REPO_ADMIN_USER,
      nodeAdmin: 'admin',
    }
    const shared: Record<string, string> = {
      ...published,
      uuid: randomUUID(),
      peerId: '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      zero: `sha256:${'0'.repeat(64)}`,
      ...Object.fromEntries(Object.entries(REPOS).map(([format, key]) => [format, key])),
    }
    // Warm the password cache: the first Basic login of a user costs one scrypt.
    for (const r of ROLES) if (auth[r]) await call(node, 'GET', '/api/v1/auth/whoami', { auth: auth[r] })

    return {
      node,
      auth,
      fill(template, role) {
        return template.replace(/\{(\w+)\}/g, (_, name: string) => {
          if (name === 'role') return slug(role)
          if (name === 'self') return self[role]
          if (name === 'victimToken') return victimTokens[role] as string
          const v = shared[name]
          if (v === undefined) throw new Error(`the matrix names an unknown fixture value {${name}} in ${template}`)
          return v
        })
      },
      close: () => node.close(),
    }
  } catch (err) {
    await node.close()
    throw err
  }
}
