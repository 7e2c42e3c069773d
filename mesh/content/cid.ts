import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

/** Multicodec of raw bytes: a blob is named by the hash of its own bytes, not of an IPLD node. */
export const RAW_CODEC = 0x55
/** Multihash code of sha2-256. */
export const SHA2_256_CODE = 0x12

const SHA256_HEX = /^[0-9a-f]{64}$/

/** The DHT key of a blob: CIDv1, raw codec, sha2-256 multihash of the blob's digest bytes. */
export function blobCid(sha256: string): CID {
  if (!SHA256_HEX.test(sha256)) throw new TypeError(`not a sha256 hex digest: ${sha256.slice(0, 80)}`)
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256_CODE, Buffer.from(sha256, 'hex')))
}

/** The blob digest a CID names, undefined when it is not a raw sha2-256 CID. */
export function sha256OfCid(cid: CID): string | undefined {
  if (cid.code !== RAW_CODEC || cid.multihash.code !== SHA2_256_CODE || cid.multihash.digest.length !== 32) return undefined
  return Buffer.from(cid.multihash.digest).toString('hex')
}
