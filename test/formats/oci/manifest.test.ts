import { describe, expect, it } from 'vitest'
import { parseManifest } from '../../../formats/oci/index.ts'

const d = (c: string, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip', size = 10) => ({
  mediaType,
  digest: `sha256:${c.repeat(64)}`,
  size,
})
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
const body = (o: unknown) => Buffer.from(JSON.stringify(o))
const image = (extra: object = {}) => ({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: d('c', 'application/vnd.oci.image.config.v1+json'),
  layers: [d('1'), d('2')],
  ...extra,
})

describe('parseManifest', () => {
  it('reads an OCI image manifest: config and layers must exist, artifactType falls back to the config type', () => {
    const m = parseManifest(body(image()), OCI_MANIFEST)
    expect(m.kind).toBe('image')
    expect(m.blobs.map((b) => b.digest[7])).toEqual(['c', '1', '2'])
    expect(m.artifactType).toBe('application/vnd.oci.image.config.v1+json')
    expect(m.subject).toBeUndefined()
  })

  it('reads a Helm chart artifact like any other image manifest', () => {
    const m = parseManifest(
      body(image({ config: d('c', 'application/vnd.cncf.helm.config.v1+json'), layers: [d('1', 'application/vnd.cncf.helm.chart.content.v1.tar+gzip')] })),
      OCI_MANIFEST,
    )
    expect(m.artifactType).toBe('application/vnd.cncf.helm.config.v1+json')
    expect(m.blobs).toHaveLength(2)
  })

  it('reads subject, artifactType and annotations for the referrers API', () => {
    const m = parseManifest(body(image({ artifactType: 'application/vnd.example.sig', subject: d('5', OCI_MANIFEST), annotations: { a: 'b' } })), undefined)
    expect(m.subject?.digest).toBe(`sha256:${'5'.repeat(64)}`)
    expect(m.artifactType).toBe('application/vnd.example.sig')
    expect(m.annotations).toEqual({ a: 'b' })
  })

  it('reads Docker schema 2 manifests and manifest lists, and OCI indexes', () => {
    expect(parseManifest(body({ ...image(), mediaType: DOCKER_MANIFEST }), DOCKER_MANIFEST).kind).toBe('image')
    const list = parseManifest(body({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [d('a', DOCKER_MANIFEST)] }), DOCKER_LIST)
    expect(list.kind).toBe('index')
    expect(list.manifests).toHaveLength(1)
    expect(list.blobs).toEqual([])
    const index = parseManifest(body({ schemaVersion: 2, manifests: [d('a', OCI_MANIFEST), d('b', OCI_MANIFEST)] }), OCI_INDEX)
    expect(index.mediaType).toBe(OCI_INDEX)
    expect(index.manifests).toHaveLength(2)
  })

  it('infers the media type of an OCI manifest without mediaType from the Content-Type or its shape', () => {
    const { mediaType: _omit, ...bare } = image()
    expect(parseManifest(body(bare), 'application/json').mediaType).toBe(OCI_MANIFEST)
    expect(parseManifest(body({ schemaVersion: 2, manifests: [] }), undefined).mediaType).toBe(OCI_INDEX)
  })

  it('does not require foreign layers that carry urls', () => {
    const foreign = { ...d('f', 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'), urls: ['https://example.invalid/layer'] }
    const m = parseManifest(body({ ...image(), mediaType: DOCKER_MANIFEST, layers: [foreign, d('1')] }), DOCKER_MANIFEST)
    expect(m.blobs.map((b) => b.digest[7])).toEqual(['c', '1'])
  })

  it.each<[string, unknown, string | undefined]>([
    ['not JSON', '{', OCI_MANIFEST],
    ['an array', [], OCI_MANIFEST],
    ['schema 1', { ...image(), schemaVersion: 1 }, OCI_MANIFEST],
    ['a Content-Type that contradicts mediaType', image(), DOCKER_MANIFEST],
    ['an unknown media type', { ...image(), mediaType: 'application/vnd.example+json' }, undefined],
    ['layers that are not an array', image({ layers: {} }), OCI_MANIFEST],
    ['a missing config', image({ config: undefined }), OCI_MANIFEST],
    ['a negative size', image({ layers: [{ ...d('1'), size: -1 }] }), OCI_MANIFEST],
    ['a fractional size', image({ layers: [{ ...d('1'), size: 1.5 }] }), OCI_MANIFEST],
    ['a sha512 digest', image({ layers: [{ ...d('1'), digest: `sha512:${'a'.repeat(128)}` }] }), OCI_MANIFEST],
    ['a malformed media type', image({ layers: [{ ...d('1'), mediaType: 'not a type' }] }), OCI_MANIFEST],
    ['non-string annotations', image({ annotations: { a: 1 } }), OCI_MANIFEST],
    ['an index with layers', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], layers: [] }, OCI_INDEX],
    ['an image with manifests', image({ manifests: [] }), OCI_MANIFEST],
  ])('refuses %s with MANIFEST_INVALID', (_what, doc, contentType) => {
    const buf = typeof doc === 'string' ? Buffer.from(doc) : body(doc)
    expect(() => parseManifest(buf, contentType)).toThrow(expect.objectContaining({ code: 'OCI_MANIFEST_INVALID' }))
  })
})
