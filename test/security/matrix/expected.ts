/**
 * The expected answers of the authorisation matrix: every route the node registers (method and
 * fastify URL pattern) has a row here, and each row one or more concrete requests with the answer
 * each role must get. A route without a row fails the suite, so a route added later must say here
 * who may call it. HEAD routes that fastify adds for a GET route use the GET row.
 *
 * URL templates name fixture values in braces (fixture.ts fills them): {generic} … {helm} are the
 * fixture repositories (private, local, one artifact each), {role} the calling role (each role
 * deletes its own victim), {self} the calling user's name, {blob} the sha256 of the generic file,
 * {ociBlob}/{ociManifest} digests in {oci}, {zero} a digest nothing has, {uuid} an upload session
 * id nobody opened, {peerId} a peer this node never saw, {victimToken} a token of `repoadmin`.
 */

export const ROLES = ['anonymous', 'otherRepoToken', 'readToken', 'writeToken', 'repoAdmin', 'nodeAdmin'] as const
export type Role = (typeof ROLES)[number]

/**
 * - allow: anything but 401/403 (a bodyless or invalid write answering 400/404/405 passed the check first);
 * - deny: 401 for anonymous (with a challenge), 403 for authenticated callers;
 * - peer: 401 or 403 for everyone (mesh routes want a peer token, which no user credential is);
 * - refused: no success for anyone (an unsupported route), whatever the status.
 */
export type Expected = 'allow' | 'deny' | 'peer' | 'refused'
export type Answers = Readonly<Record<Role, Expected>>

export interface MatrixCase {
  url: string
  body?: string
  contentType?: string
  /** The fixture exists: allowed roles must get a 2xx/3xx, which proves the URL reaches the artifact. */
  exists?: true
  /**
   * When the case runs: 0 (default) with the rest; 1 after them, for deletes of what other cases
   * read; 2 last of all, for a case that revokes the caller's own credential.
   */
  phase?: 1 | 2
  expect: Answers
}

const answers = (anonymous: Expected, otherRepoToken: Expected, readToken: Expected, writeToken: Expected, repoAdmin: Expected, nodeAdmin: Expected): Answers =>
  ({ anonymous, otherRepoToken, readToken, writeToken, repoAdmin, nodeAdmin })

/** Anyone, signed in or not (health, login, lists filtered to what the caller may read). */
const PUBLIC = answers('allow', 'allow', 'allow', 'allow', 'allow', 'allow')
/** Any authenticated caller (about itself). */
const USER = answers('deny', 'allow', 'allow', 'allow', 'allow', 'allow')
/** Read on the repository: the read-only token and up; the token of another repository is refused. */
const READ = answers('deny', 'deny', 'allow', 'allow', 'allow', 'allow')
/** Write (or delete) on the repository. */
const WRITE = answers('deny', 'deny', 'deny', 'allow', 'allow', 'allow')
/** Admin on the repository (and, for token management, the owner by password): no token below admin. */
const REPO_ADMIN = answers('deny', 'deny', 'deny', 'deny', 'allow', 'allow')
/** Node admins only. */
const NODE_ADMIN = answers('deny', 'deny', 'deny', 'deny', 'deny', 'allow')
/** Mesh peers only: every user credential is refused. */
const PEER = answers('peer', 'peer', 'peer', 'peer', 'peer', 'peer')
/** Nobody succeeds (not implemented, or nothing to serve at this URL). */
const NOBODY = answers('refused', 'refused', 'refused', 'refused', 'refused', 'refused')

const read = (url: string): MatrixCase => ({ url, exists: true, expect: READ })
const json = (url: string, body: unknown, expect: Answers): MatrixCase => ({ url, body: JSON.stringify(body), contentType: 'application/json', expect })

export const MATRIX: Readonly<Record<string, readonly MatrixCase[]>> = {
  // Operations
  'GET /health': [{ url: '/health', exists: true, expect: PUBLIC }],
  'GET /ready': [{ url: '/ready', exists: true, expect: PUBLIC }],
  'GET /metrics': [{ url: '/metrics', exists: true, expect: PUBLIC }],

  // Management API: sessions and tokens
  'POST /api/v1/auth/login': [{ url: '/api/v1/auth/login', expect: PUBLIC }],
  'GET /api/v1/auth/whoami': [{ url: '/api/v1/auth/whoami', exists: true, expect: PUBLIC }],
  'GET /api/v1/tokens': [{ url: '/api/v1/tokens', exists: true, expect: USER }],
  // A token never mints a wider token: the one scoped to another repository may not reach {generic}.
  'POST /api/v1/tokens': [json('/api/v1/tokens', { repos: ['m-generic'], access: 'read', name: 'made by the matrix' }, REPO_ADMIN)],
  'DELETE /api/v1/tokens/:id': [{ url: '/api/v1/tokens/{victimToken}', expect: REPO_ADMIN }],

  // Users and groups
  'GET /api/v1/users': [{ url: '/api/v1/users', exists: true, expect: NODE_ADMIN }],
  'POST /api/v1/users': [{ url: '/api/v1/users', expect: NODE_ADMIN }],
  'GET /api/v1/users/:name': [
    { url: '/api/v1/users/{self}', exists: true, expect: USER },
    { url: '/api/v1/users/victim-{role}', exists: true, expect: NODE_ADMIN },
  ],
  'PATCH /api/v1/users/:name': [
    // An API token never changes its own user; a password may (its own password).
    json('/api/v1/users/{self}', {}, REPO_ADMIN),
    json('/api/v1/users/victim-{role}', {}, NODE_ADMIN),
  ],
  'DELETE /api/v1/users/:name': [{ url: '/api/v1/users/victim-{role}', phase: 1, expect: NODE_ADMIN }],
  'GET /api/v1/groups': [{ url: '/api/v1/groups', exists: true, expect: NODE_ADMIN }],
  'POST /api/v1/groups': [{ url: '/api/v1/groups', expect: NODE_ADMIN }],
  'GET /api/v1/groups/:name': [{ url: '/api/v1/groups/group-{role}', exists: true, expect: NODE_ADMIN }],
  'PUT /api/v1/groups/:name/members': [json('/api/v1/groups/group-{role}/members', { members: [] }, NODE_ADMIN)],
  'DELETE /api/v1/groups/:name': [{ url: '/api/v1/groups/group-{role}', phase: 1, expect: NODE_ADMIN }],

  // Repositories and their grants
  'GET /api/v1/repositories': [{ url: '/api/v1/repositories', exists: true, expect: PUBLIC }],
  'POST /api/v1/repositories': [json('/api/v1/repositories', { key: 'made-by-{role}', format: 'generic' }, NODE_ADMIN)],
  'GET /api/v1/repositories/:key': [read('/api/v1/repositories/{generic}')],
  'PATCH /api/v1/repositories/:key': [json('/api/v1/repositories/{generic}', { description: 'patched by the matrix' }, REPO_ADMIN)],
  'PUT /api/v1/repositories/:key': [json('/api/v1/repositories/{generic}', { description: 'put by the matrix' }, REPO_ADMIN)],
  'DELETE /api/v1/repositories/:key': [{ url: '/api/v1/repositories/drop-{role}', expect: REPO_ADMIN }],
  'GET /api/v1/permissions': [
    { url: '/api/v1/permissions?repo={generic}', exists: true, expect: REPO_ADMIN },
    { url: '/api/v1/permissions', exists: true, expect: NODE_ADMIN },
  ],
  'PUT /api/v1/permissions': [
    json('/api/v1/permissions', { repo: 'm-generic', principalType: 'group', principal: 'perm-{role}', actions: ['read'] }, REPO_ADMIN),
    // Grants on every repository are the node admin's.
    json('/api/v1/permissions', { repo: '*', principalType: 'group', principal: 'perm-{role}', actions: ['read'] }, NODE_ADMIN),
  ],
  'DELETE /api/v1/permissions': [{ url: '/api/v1/permissions?repo={generic}&principalType=group&principal=perm-{role}', phase: 1, expect: REPO_ADMIN }],

  // Mesh, replication and the swarm: they describe the deployment
  'GET /api/v1/mesh/status': [{ url: '/api/v1/mesh/status', exists: true, expect: NODE_ADMIN }],
  'GET /api/v1/mesh/peers': [{ url: '/api/v1/mesh/peers', exists: true, expect: NODE_ADMIN }],
  'GET /api/v1/mesh/peers/:peerId': [{ url: '/api/v1/mesh/peers/{peerId}', expect: NODE_ADMIN }],
  'POST /api/v1/mesh/peers/:peerId/probe': [{ url: '/api/v1/mesh/peers/{peerId}/probe', expect: NODE_ADMIN }],
  'GET /api/v1/mesh/providers/:sha256': [{ url: '/api/v1/mesh/providers/{blob}', exists: true, expect: NODE_ADMIN }],
  'GET /api/v1/replication/state': [{ url: '/api/v1/replication/state', exists: true, expect: NODE_ADMIN }],
  'GET /api/v1/replication/conflicts': [{ url: '/api/v1/replication/conflicts', exists: true, expect: NODE_ADMIN }],
  'GET /api/v1/transfers': [{ url: '/api/v1/transfers', exists: true, expect: NODE_ADMIN }],
  'GET /api/v1/chunks/:sha256/manifest': [{ url: '/api/v1/chunks/{blob}/manifest', expect: PEER }],
  'GET /api/v1/chunks/:sha256/have': [{ url: '/api/v1/chunks/{blob}/have', expect: PEER }],
  'GET /api/v1/chunks/:sha256/chunks/:index': [{ url: '/api/v1/chunks/{blob}/chunks/0', expect: PEER }],
  'PUT /api/v1/go/:repo/*': [{ url: '/api/v1/go/{go}/example.com/matrix/@v/v9.9.9.zip', expect: WRITE }],

  // Generic
  'GET /generic/:repo': [read('/generic/{generic}')],
  'GET /generic/:repo/*': [read('/generic/{generic}/matrix/file.txt'), read('/generic/{generic}/matrix/')],
  'PUT /generic/:repo/*': [{ url: '/generic/{generic}/matrix/put-{role}.txt', body: 'x', contentType: 'text/plain', expect: WRITE }],
  'DELETE /generic/:repo/*': [{ url: '/generic/{generic}/matrix/missing-{role}.txt', expect: WRITE }],

  // npm: one wildcard route, dispatched by path
  'GET /npm/*': [
    read('/npm/{npm}/matrix-pkg'),
    read('/npm/{npm}/matrix-pkg/1.0.0'),
    read('/npm/{npm}/matrix-pkg/-/matrix-pkg-1.0.0.tgz'),
    read('/npm/{npm}/-/package/matrix-pkg/dist-tags'),
    read('/npm/{npm}/-/v1/search?text=matrix'),
    // Whether a private repository exists is not for anonymous callers (issue 11, part 9).
    { url: '/npm/{npm}/-/ping', exists: true, expect: USER },
    { url: '/npm/{npm}/-/whoami', exists: true, expect: USER },
    { url: '/npm/{npm}/-/user/org.couchdb.user:{self}', exists: true, expect: USER },
  ],
  'PUT /npm/*': [
    { url: '/npm/{npm}/matrix-{role}', expect: WRITE },
    { url: '/npm/{npm}/matrix-pkg/-rev/1', expect: WRITE },
    json('/npm/{npm}/-/package/matrix-pkg/dist-tags/beta', '1.0.0', WRITE),
    // Login (`npm login --auth-type=legacy`) is open to everyone; an empty body fails validation only.
    { url: '/npm/{npm}/-/user/org.couchdb.user:nobody', expect: PUBLIC },
  ],
  'POST /npm/*': [json('/npm/{npm}/-/package/matrix-pkg/dist-tags/beta', '1.0.0', WRITE)],
  'DELETE /npm/*': [
    { url: '/npm/{npm}/missing-{role}/-rev/1', expect: WRITE },
    { url: '/npm/{npm}/matrix-pkg/-/matrix-pkg-9.9.9.tgz/-rev/1', expect: WRITE },
    { url: '/npm/{npm}/-/package/matrix-pkg/dist-tags/gone-{role}', expect: WRITE },
    // `npm logout` revokes the caller's own token, whatever repository it names.
    { url: '/npm/{npm}/-/user/token/whatever', phase: 2, expect: USER },
  ],

  // PyPI
  'GET /pypi/:repo/simple': [read('/pypi/{pypi}/simple')],
  'GET /pypi/:repo/simple/': [read('/pypi/{pypi}/simple/')],
  'GET /pypi/:repo/simple/:project': [read('/pypi/{pypi}/simple/matrix-dist')],
  'GET /pypi/:repo/simple/:project/': [read('/pypi/{pypi}/simple/matrix-dist/')],
  'GET /pypi/:repo/packages/:project/:filename': [read('/pypi/{pypi}/packages/matrix-dist/matrix_dist-1.0-py3-none-any.whl')],
  'POST /pypi/:repo': [{ url: '/pypi/{pypi}', expect: WRITE }],
  'POST /pypi/:repo/': [{ url: '/pypi/{pypi}/', expect: WRITE }],
  'POST /pypi/:repo/legacy/': [{ url: '/pypi/{pypi}/legacy/', expect: WRITE }],

  // Maven
  'GET /maven/:repo': [read('/maven/{maven}')],
  'GET /maven/:repo/*': [read('/maven/{maven}/com/example/lib/1.0/lib-1.0.pom'), read('/maven/{maven}/com/example/lib/maven-metadata.xml')],
  // Client-built metadata is accepted and discarded: a write that changes nothing.
  'PUT /maven/:repo/*': [{ url: '/maven/{maven}/com/example/lib/maven-metadata.xml', body: '<metadata/>', contentType: 'application/xml', expect: WRITE }],
  'DELETE /maven/:repo/*': [{ url: '/maven/{maven}/com/example/missing-{role}/1.0/missing-1.0.jar', expect: WRITE }],

  // OCI distribution
  // The version check: a client without credentials learns the auth scheme from the challenge.
  'GET /v2': [{ url: '/v2', exists: true, expect: USER }],
  'HEAD /v2/': [{ url: '/v2/', exists: true, expect: USER }],
  'GET /v2/token': [{ url: '/v2/token', exists: true, expect: PUBLIC }],
  'GET /v2/_catalog': [{ url: '/v2/_catalog', exists: true, expect: PUBLIC }],
  'GET /v2/*': [
    read('/v2/{oci}/app/manifests/1.0'),
    read('/v2/{oci}/app/manifests/{ociManifest}'),
    read('/v2/{oci}/app/blobs/{ociBlob}'),
    read('/v2/{oci}/app/tags/list'),
    read('/v2/{oci}/app/referrers/{ociManifest}'),
    { url: '/v2/{oci}/app/blobs/uploads/{uuid}', expect: WRITE },
  ],
  // HEAD is the spec's for manifests and blobs only; on the others it is refused before any lookup.
  'HEAD /v2/*': [
    read('/v2/{oci}/app/manifests/1.0'),
    read('/v2/{oci}/app/blobs/{ociBlob}'),
    { url: '/v2/{oci}/app/tags/list', expect: NOBODY },
    { url: '/v2/{oci}/app/referrers/{ociManifest}', expect: NOBODY },
    { url: '/v2/{oci}/app/blobs/uploads/{uuid}', expect: NOBODY },
  ],
  'PUT /v2/*': [
    { url: '/v2/{oci}/app/manifests/matrix-{role}', contentType: 'application/vnd.oci.image.manifest.v1+json', expect: WRITE },
    { url: '/v2/{oci}/app/blobs/uploads/{uuid}?digest={zero}', expect: WRITE },
  ],
  'POST /v2/*': [{ url: '/v2/{oci}/app/blobs/uploads/', expect: WRITE }],
  'PATCH /v2/*': [{ url: '/v2/{oci}/app/blobs/uploads/{uuid}', expect: WRITE }],
  'DELETE /v2/*': [
    { url: '/v2/{oci}/app/manifests/{zero}', expect: WRITE },
    { url: '/v2/{oci}/app/blobs/{zero}', expect: WRITE },
    { url: '/v2/{oci}/app/blobs/uploads/{uuid}', expect: WRITE },
  ],

  // Cargo
  'GET /cargo/:repo/index/config.json': [read('/cargo/{cargo}/index/config.json')],
  'GET /cargo/:repo/index/*': [read('/cargo/{cargo}/index/ma/tr/matrix-crate')],
  'GET /cargo/:repo/api/v1/crates': [read('/cargo/{cargo}/api/v1/crates?q=matrix')],
  'GET /cargo/:repo/api/v1/crates/:name/:version/download': [read('/cargo/{cargo}/api/v1/crates/matrix-crate/0.1.0/download')],
  'GET /cargo/:repo/api/v1/crates/:name/owners': [read('/cargo/{cargo}/api/v1/crates/matrix-crate/owners')],
  'PUT /cargo/:repo/api/v1/crates/:name/owners': [{ url: '/cargo/{cargo}/api/v1/crates/matrix-crate/owners', expect: NOBODY }],
  'DELETE /cargo/:repo/api/v1/crates/:name/owners': [{ url: '/cargo/{cargo}/api/v1/crates/matrix-crate/owners', expect: NOBODY }],
  'PUT /cargo/:repo/api/v1/crates/new': [{ url: '/cargo/{cargo}/api/v1/crates/new', expect: WRITE }],
  'DELETE /cargo/:repo/api/v1/crates/:name/:version/yank': [{ url: '/cargo/{cargo}/api/v1/crates/matrix-crate/9.9.9/yank', expect: WRITE }],
  'PUT /cargo/:repo/api/v1/crates/:name/:version/unyank': [{ url: '/cargo/{cargo}/api/v1/crates/matrix-crate/9.9.9/unyank', expect: WRITE }],
  // `cargo login`'s hint page; whether a private repository exists is not for anonymous callers.
  'GET /cargo/:repo/me': [{ url: '/cargo/{cargo}/me', exists: true, expect: USER }],

  // Go (GOPROXY)
  // The bare repository URL serves nothing.
  'GET /go/:repo': [{ url: '/go/{go}', expect: NOBODY }],
  'GET /go/:repo/*': [
    read('/go/{go}/example.com/matrix/@v/list'),
    read('/go/{go}/example.com/matrix/@latest'),
    read('/go/{go}/example.com/matrix/@v/v1.0.0.info'),
    read('/go/{go}/example.com/matrix/@v/v1.0.0.mod'),
    read('/go/{go}/example.com/matrix/@v/v1.0.0.zip'),
  ],
  'PUT /go/:repo/*': [{ url: '/go/{go}/example.com/matrix/@v/v9.9.9.zip', expect: WRITE }],
  'DELETE /go/:repo/*': [{ url: '/go/{go}/example.com/matrix/@v/v9.9.9.zip', expect: WRITE }],

  // Helm
  'GET /helm/:repo/index.yaml': [read('/helm/{helm}/index.yaml')],
  'GET /helm/:repo/charts/:file': [read('/helm/{helm}/charts/matrix-chart-0.1.0.tgz')],
  'GET /helm/:repo/api/charts': [read('/helm/{helm}/api/charts')],
  'GET /helm/:repo/api/charts/:name': [read('/helm/{helm}/api/charts/matrix-chart')],
  'GET /helm/:repo/api/charts/:name/:version': [read('/helm/{helm}/api/charts/matrix-chart/0.1.0')],
  'POST /helm/:repo/api/charts': [{ url: '/helm/{helm}/api/charts', expect: WRITE }],
  'POST /helm/:repo/api/prov': [{ url: '/helm/{helm}/api/prov', expect: WRITE }],
  'DELETE /helm/:repo/api/charts/:name/:version': [{ url: '/helm/{helm}/api/charts/matrix-chart/9.9.9', expect: WRITE }],
}
