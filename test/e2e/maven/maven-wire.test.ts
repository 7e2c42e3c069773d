import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNodeProcess, type NodeProcess } from '../../helpers/node-process.ts'
import { createRepo, pomFor } from './support.ts'

/*
 * The Maven wire protocol as wagon speaks it (PUT with Expect: 100-continue and Basic
 * credentials, GET of files, metadata and sidecars), driven directly against a real node
 * process, for the behaviours the mvn tests cannot provoke reliably.
 */

let node: NodeProcess
const sha1 = (b: string | Buffer) => createHash('sha1').update(b).digest('hex')

async function put(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  return fetch(`${node.url}/maven/${path}`, {
    method: 'PUT',
    headers: { authorization: node.adminAuth, ...headers },
    body,
    signal: AbortSignal.timeout(10_000),
  })
}

async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  return fetch(`${node.url}/maven/${path}`, { method, headers: { authorization: node.adminAuth, ...headers }, signal: AbortSignal.timeout(10_000) })
}

/** Sends only the request head with Expect: 100-continue and reports what the server answers before any body. */
function headOnly(head: string, waitMs = 1500): Promise<{ received: string; closed: boolean }> {
  const { hostname, port } = new URL(node.url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let received = ''
    let closed = false
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ received, closed })
    }
    const timer = setTimeout(done, waitMs)
    socket.on('data', (d) => (received += d.toString('latin1')))
    socket.on('end', () => {
      closed = true
      done()
    })
    socket.on('error', reject)
    socket.write(head)
  })
}

beforeAll(async () => {
  node = await startNodeProcess()
  await createRepo(node, { key: 'mvn-local' })
  await createRepo(node, { key: 'mvn-other' })
  await createRepo(node, { key: 'mvn-small', settings: { maxUploadBytes: 1024 } })
  await createRepo(node, { key: 'mvn-virtual', type: 'virtual', settings: { members: ['mvn-local', 'mvn-other'], defaultDeployRepo: 'mvn-other' } })
})

afterAll(async () => {
  await node?.stop()
})

describe('maven deploy over the wire', () => {
  it('refuses an unauthenticated PUT with 401 before the body when the client expects 100-continue', async () => {
    const { received, closed } = await headOnly(
      'PUT /maven/mvn-local/akt/wire/lib/1.0/lib-1.0.jar HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n',
    )
    expect(received).toMatch(/^HTTP\/1\.1 401 /)
    expect(received).not.toContain('100 Continue')
    expect(received.toLowerCase()).toContain('www-authenticate: basic realm=')
    expect(received.toLowerCase()).toContain('connection: close')
    expect(closed).toBe(true)
  })

  it('refuses an oversize PUT with 413 before the body, and a bad path with 400', async () => {
    const auth = `Authorization: ${node.adminAuth}\r\n`
    const big = await headOnly(`PUT /maven/mvn-small/akt/wire/lib/1.0/lib-1.0.jar HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n`)
    expect(big.received).toMatch(/^HTTP\/1\.1 413 /)
    expect(big.received).not.toContain('100 Continue')
    const bad = await headOnly(`PUT /maven/mvn-local/akt/wire/lib/1.0/other-1.0.jar HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`)
    expect(bad.received).toMatch(/^HTTP\/1\.1 400 /)
    expect(bad.received).not.toContain('100 Continue')
  })

  it('answers 100 Continue to an authorized PUT, then stores the body', async () => {
    const { hostname, port } = new URL(node.url)
    const socket = connect(Number(port), hostname)
    let received = ''
    socket.on('data', (d) => (received += d.toString('latin1')))
    socket.write(
      `PUT /maven/mvn-local/akt/wire/cont/1.0/cont-1.0.jar HTTP/1.1\r\nHost: x\r\nAuthorization: ${node.adminAuth}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`,
    )
    const deadline = Date.now() + 5000
    while (!received.includes('100 Continue') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(received).toMatch(/^HTTP\/1\.1 100 Continue/)
    socket.write('hello')
    while (!/HTTP\/1\.1 201/.test(received) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    socket.destroy()
    expect(received).toContain('HTTP/1.1 201')
    expect(await (await get('mvn-local/akt/wire/cont/1.0/cont-1.0.jar')).text()).toBe('hello')
  })

  it('does not defer 100 Continue for other formats', async () => {
    await fetch(`${node.url}/api/v1/repositories`, {
      method: 'POST',
      headers: { authorization: node.adminAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ key: 'gen', format: 'generic', type: 'local' }),
    })
    const { received } = await headOnly('PUT /generic/gen/a.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n', 800)
    expect(received).toMatch(/^HTTP\/1\.1 100 Continue/)
  })
})

describe('maven files, metadata and sidecars', () => {
  const dir = 'mvn-local/akt/wire/lib'

  it('stores a release and serves it with Range, HEAD and every checksum sidecar', async () => {
    const jar = Buffer.from('0123456789abcdef')
    expect((await put(`${dir}/1.0/lib-1.0.jar`, jar)).status).toBe(201)
    expect((await put(`${dir}/1.0/lib-1.0.pom`, pomFor('akt.wire', 'lib', '1.0'))).status).toBe(201)
    const ranged = await get(`${dir}/1.0/lib-1.0.jar`, { range: 'bytes=4-7' })
    expect(ranged.status).toBe(206)
    expect(await ranged.text()).toBe('4567')
    const head = await get(`${dir}/1.0/lib-1.0.jar`, {}, 'HEAD')
    expect(head.headers.get('content-length')).toBe('16')
    for (const alg of ['md5', 'sha1', 'sha256', 'sha512']) {
      const res = await get(`${dir}/1.0/lib-1.0.jar.${alg}`)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe(createHash(alg).update(jar).digest('hex'))
    }
  })

  it('generates artifact-level metadata with sidecars that match its bytes', async () => {
    await put(`${dir}/1.1/lib-1.1.jar`, 'one-one')
    const xml = await (await get(`${dir}/maven-metadata.xml`)).text()
    expect(xml).toContain('<groupId>akt.wire</groupId>')
    expect(xml).toMatch(/<latest>1\.1<\/latest>\s*<release>1\.1<\/release>\s*<versions>\s*<version>1\.0<\/version>\s*<version>1\.1<\/version>/)
    expect(await (await get(`${dir}/maven-metadata.xml.sha1`)).text()).toBe(sha1(xml))
    expect(await (await get(`${dir}/maven-metadata.xml.sha256`)).text()).toBe(createHash('sha256').update(xml).digest('hex'))
  })

  it('accepts a client-built maven-metadata.xml (200) but keeps serving the generated one', async () => {
    const before = await (await get(`${dir}/maven-metadata.xml`)).text()
    const res = await put(`${dir}/maven-metadata.xml`, '<metadata><versioning><latest>9.9</latest></versioning></metadata>')
    expect(res.status).toBe(200)
    expect((await put(`${dir}/maven-metadata.xml.sha1`, sha1('whatever'))).status).toBe(200)
    expect(await (await get(`${dir}/maven-metadata.xml`)).text()).toBe(before)
  })

  it('verifies uploaded sidecars against the stored file', async () => {
    expect((await put(`${dir}/1.0/lib-1.0.jar.sha1`, sha1('0123456789abcdef'))).status).toBe(200)
    expect((await put(`${dir}/1.0/lib-1.0.jar.md5`, `${createHash('md5').update('0123456789abcdef').digest('hex')}  lib-1.0.jar\n`)).status).toBe(200)
    const wrong = await put(`${dir}/1.0/lib-1.0.jar.sha1`, sha1('something else'))
    expect(wrong.status).toBe(400)
    expect(await wrong.text()).toContain('AK_DIGEST_MISMATCH')
    expect((await put(`${dir}/1.0/lib-1.0.jar.sha1`, 'not-hex')).status).toBe(400)
    expect((await put(`${dir}/1.0/lib-1.0-sources.jar.sha1`, sha1('x'))).status).toBe(404)
  })

  it('keeps releases immutable: same bytes again is fine, other bytes are 409', async () => {
    expect((await put(`${dir}/1.0/lib-1.0.jar`, '0123456789abcdef')).status).toBe(200)
    const res = await put(`${dir}/1.0/lib-1.0.jar`, 'different bytes')
    expect(res.status).toBe(409)
    expect(res.statusText).toContain('immutable')
    expect(await (await get(`${dir}/1.0/lib-1.0.jar`)).text()).toBe('0123456789abcdef')
  })

  it('resolves 1.0-SNAPSHOT requests to the newest timestamped build and generates version metadata', async () => {
    const snap = 'mvn-local/akt/wire/snap/1.0-SNAPSHOT'
    await put(`${snap}/snap-1.0-20261125.100000-1.jar`, 'build one')
    await put(`${snap}/snap-1.0-20261125.100000-1.pom`, pomFor('akt.wire', 'snap', '1.0-SNAPSHOT'))
    await put(`${snap}/snap-1.0-20261125.110000-2.jar`, 'build two')
    await put(`${snap}/snap-1.0-20261125.110000-2-sources.jar`, 'sources two')
    expect(await (await get(`${snap}/snap-1.0-SNAPSHOT.jar`)).text()).toBe('build two')
    expect(await (await get(`${snap}/snap-1.0-SNAPSHOT-sources.jar`)).text()).toBe('sources two')
    expect(await (await get(`${snap}/snap-1.0-SNAPSHOT.jar.sha1`)).text()).toBe(sha1('build two'))
    const xml = await (await get(`${snap}/maven-metadata.xml`)).text()
    expect(xml).toMatch(/<snapshot>\s*<timestamp>20261125\.110000<\/timestamp>\s*<buildNumber>2<\/buildNumber>/)
    expect(xml).toMatch(/<extension>pom<\/extension>\s*<value>1\.0-20261125\.100000-1<\/value>/)
    expect(xml).toMatch(/<classifier>sources<\/classifier>\s*<extension>jar<\/extension>\s*<value>1\.0-20261125\.110000-2<\/value>/)
    // SNAPSHOT files may be replaced.
    expect((await put(`${snap}/snap-1.0-20261125.110000-2.jar`, 'build two, again')).status).toBe(200)
    const artifactXml = await (await get('mvn-local/akt/wire/snap/maven-metadata.xml')).text()
    expect(artifactXml).toContain('<latest>1.0-SNAPSHOT</latest>')
    expect(artifactXml).not.toContain('<release>')
  })

  it('answers 404 for what is not stored', async () => {
    expect((await get('mvn-local/akt/none/x/maven-metadata.xml')).status).toBe(404)
    expect((await get('mvn-local/akt/none/x/1.0/x-1.0.jar')).status).toBe(404)
    expect((await get('mvn-local/akt/wire/lib/1.0/maven-metadata.xml')).status).toBe(404)
  })

  it('lists the layout as JSON for browsing', async () => {
    const res = await get('mvn-local/akt/wire/lib/')
    const body = (await res.json()) as { children: { name: string }[] }
    expect(body.children.map((c) => c.name)).toEqual(['1.0', '1.1', ])
  })
})

describe('maven bad input: nothing is stored', () => {
  const dir = 'mvn-local/akt/bad/lib/1.0'

  it.each([
    ['malformed XML', '<project><groupId>akt.bad</groupId>'],
    ['coordinates that differ from the path', pomFor('akt.evil', 'lib', '1.0')],
    ['a DOCTYPE (entity expansion)', '<?xml version="1.0"?><!DOCTYPE project [<!ENTITY a "a">]><project><groupId>&a;</groupId></project>'],
  ])('refuses a POM with %s (400)', async (_why, body) => {
    const res = await put(`${dir}/lib-1.0.pom`, body)
    expect(res.status).toBe(400)
    expect((await get(`${dir}/lib-1.0.pom`)).status).toBe(404)
  })

  it.each([
    ['an encoded parent segment', 'mvn-local/akt/%2e%2e/lib/1.0/lib-1.0.jar'],
    ['a file name outside the layout', 'mvn-local/akt/bad/lib/1.0/evil.sh'],
    ['a dotted group directory', 'mvn-local/akt.bad/lib/1.0/lib-1.0.jar'],
  ])('refuses %s (400)', async (_why, path) => {
    const res = await put(path, 'x')
    expect(res.status).toBe(400)
  })

  it('refuses a body whose X-Checksum-Sha1 does not match (400)', async () => {
    const res = await put(`${dir}/lib-1.0.jar`, 'payload', { 'x-checksum-sha1': sha1('other') })
    expect(res.status).toBe(400)
    expect((await get(`${dir}/lib-1.0.jar`)).status).toBe(404)
  })

  it('refuses a POM over the POM size bound (413)', async () => {
    const huge = pomFor('akt.bad', 'lib', '1.0').replace('</project>', `<description>${'x'.repeat(3 * 1024 * 1024)}</description></project>`)
    const res = await put(`${dir}/lib-1.0.pom`, huge)
    expect(res.status).toBe(413)
    expect((await get(`${dir}/lib-1.0.pom`)).status).toBe(404)
  })

  it('refuses a read-only caller (401 anonymous) and hides nothing from readers', async () => {
    const res = await fetch(`${node.url}/maven/mvn-local/akt/wire/lib/1.0/lib-1.0.jar`, { signal: AbortSignal.timeout(5000) })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/)
  })
})

describe('maven virtual repositories', () => {
  it('serves the first hit, merges metadata and deploys to defaultDeployRepo', async () => {
    await put('mvn-local/akt/virt/lib/1.0/lib-1.0.jar', 'from local')
    await put('mvn-other/akt/virt/lib/1.0/lib-1.0.jar', 'from other')
    await put('mvn-other/akt/virt/lib/2.0/lib-2.0.jar', 'two from other')
    expect(await (await get('mvn-virtual/akt/virt/lib/1.0/lib-1.0.jar')).text()).toBe('from local')
    expect(await (await get('mvn-virtual/akt/virt/lib/2.0/lib-2.0.jar')).text()).toBe('two from other')
    const deployed = await put('mvn-virtual/akt/virt/lib/3.0/lib-3.0.jar', 'three')
    expect(deployed.status).toBe(201)
    expect(await (await get('mvn-other/akt/virt/lib/3.0/lib-3.0.jar')).text()).toBe('three')
    const xml = await (await get('mvn-virtual/akt/virt/lib/maven-metadata.xml')).text()
    expect(xml).toMatch(/<latest>3\.0<\/latest>\s*<release>3\.0<\/release>\s*<versions>\s*<version>1\.0<\/version>\s*<version>2\.0<\/version>\s*<version>3\.0<\/version>/)
    expect(await (await get('mvn-virtual/akt/virt/lib/maven-metadata.xml.sha1')).text()).toBe(sha1(xml))
  })

  it('deletes through the virtual repository from its deploy member only', async () => {
    await put('mvn-local/akt/virt/gone/1.0/gone-1.0.jar', 'in local')
    await put('mvn-other/akt/virt/gone/1.0/gone-1.0.jar', 'in other')
    const del = await get('mvn-virtual/akt/virt/gone/1.0/gone-1.0.jar', {}, 'DELETE')
    expect(del.status).toBe(204)
    expect((await get('mvn-other/akt/virt/gone/1.0/gone-1.0.jar')).status).toBe(404)
    expect(await (await get('mvn-local/akt/virt/gone/1.0/gone-1.0.jar')).text()).toBe('in local')
  })
})
