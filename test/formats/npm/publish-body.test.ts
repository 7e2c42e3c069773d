import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { Base64Decoder, PublishBodyScanner } from '../../../formats/npm/index.ts'
import { publishDocument } from './fixtures.ts'

interface Scanned {
  doc: Record<string, unknown>
  files: string[]
  base64: string
  ended: boolean
}

/** Feeds `body` to a scanner in pieces of `piece` bytes (or as given). */
function scan(body: Buffer, pieces: number[] | number, maxMeta = 1 << 20): Scanned {
  let base64 = ''
  let ended = false
  const scanner = new PublishBodyScanner(maxMeta, () => ({
    write: (b) => void (base64 += b.toString('latin1')),
    end: () => void (ended = true),
  }))
  let offset = 0
  let k = 0
  while (offset < body.length) {
    const size = typeof pieces === 'number' ? pieces : (pieces[k++ % pieces.length] as number)
    scanner.write(body.subarray(offset, offset + size))
    offset += size
  }
  return { doc: scanner.end(), files: [...scanner.attachments], base64, ended }
}

describe('PublishBodyScanner', () => {
  const tgz = randomBytes(5000)
  const doc = publishDocument('@acme/util', '1.0.0', tgz, { manifest: { readme: 'quote " and \\ backslash and "data": "x"' } })
  const body = Buffer.from(JSON.stringify(doc))

  it('passes the attachment data through and keeps the rest of the document, whatever the chunking', () => {
    for (const pieces of [body.length, 1, 7, [3, 1, 64, 2]]) {
      const r = scan(body, pieces)
      expect(Buffer.from(r.base64, 'base64').equals(tgz)).toBe(true)
      expect(r.ended).toBe(true)
      expect(r.files).toEqual(['@acme/util-1.0.0.tgz'])
      const expected = structuredClone(doc) as { _attachments: Record<string, { data: string }> }
      ;(expected._attachments['@acme/util-1.0.0.tgz'] as { data: string }).data = ''
      expect(r.doc).toEqual(expected)
    }
  })

  it('does not collect the attachment data: the metadata bound applies to the rest only', () => {
    const big = publishDocument('big', '1.0.0', randomBytes(200_000))
    const text = Buffer.from(JSON.stringify(big))
    expect(() => scan(text, 4096, 2000)).not.toThrow()
  })

  it('refuses metadata beyond its bound', () => {
    const fat = publishDocument('fat', '1.0.0', tgz, { manifest: { readme: 'x'.repeat(10_000) } })
    expect(() => scan(Buffer.from(JSON.stringify(fat)), 512, 4096)).toThrow(/exceeds 4096 bytes/)
  })

  it('reads data with JSON-escaped slashes', () => {
    const text = JSON.stringify(doc).replace(/"data":"([^"]*)"/, (_m, d: string) => `"data":"${d.replace(/\//g, '\\/')}"`)
    const r = scan(Buffer.from(text), 3)
    expect(Buffer.from(r.base64, 'base64').equals(tgz)).toBe(true)
  })

  it('ignores "data" keys outside _attachments.<file>', () => {
    const other = { name: 'x', versions: { '1.0.0': { data: 'not-an-attachment' } }, data: 'top' }
    const r = scan(Buffer.from(JSON.stringify(other)), 2)
    expect(r.files).toEqual([])
    expect(r.doc).toEqual(other)
  })

  it('refuses a second attachment', () => {
    const two = { ...doc, _attachments: { 'a.tgz': { data: 'AAAA' }, 'b.tgz': { data: 'AAAA' } } }
    expect(() => scan(Buffer.from(JSON.stringify(two)), 16)).toThrow(/exactly one attachment/)
  })

  it('refuses malformed documents', () => {
    for (const bad of ['[1,2]', '{"a":1', '{"a" 1}', '{"a":1}}', '{"a":1} x', '"str"', '{"a":1,}', '{"_attachments":{"f":{"data":"AAAA']) {
      expect(() => scan(Buffer.from(bad), 1), bad).toThrow(/malformed publish document/)
    }
  })
})

describe('Base64Decoder', () => {
  const decode = async (pieces: string[]) => {
    const out: Buffer[] = []
    const d = Readable.from(pieces.map((p) => Buffer.from(p, 'latin1'))).pipe(new Base64Decoder())
    for await (const c of d) out.push(c as Buffer)
    return Buffer.concat(out)
  }

  it('decodes base64 split at any point', async () => {
    const data = randomBytes(1000)
    const text = data.toString('base64')
    const pieces = [text.slice(0, 1), text.slice(1, 6), text.slice(6, 500), text.slice(500)]
    expect((await decode(pieces)).equals(data)).toBe(true)
  })

  it('refuses characters outside the base64 alphabet instead of skipping them', async () => {
    await expect(decode(['QUJD', 'R*VG'])).rejects.toThrow(/not valid base64/)
    await expect(decode(['QUI=', 'QUJD'])).rejects.toThrow(/not valid base64/)
  })
})
