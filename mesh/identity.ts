import { chmod, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'

/** File in the data dir holding the node's Ed25519 key (libp2p protobuf encoding, mode 0600). */
export const NODE_KEY_FILE = 'node-key'

export interface NodeIdentity {
  privateKey: PrivateKey
  /** The libp2p peer ID, the origin of every event this node appends. */
  peerId: string
}

/** Loads the node's persistent Ed25519 identity, creating it on first start. */
export async function loadOrCreateIdentity(dataDir: string): Promise<NodeIdentity> {
  const file = join(dataDir, NODE_KEY_FILE)
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read node key ${file}: ${(err as Error).message}`)
    }
    privateKey = await generateKeyPair('Ed25519')
    const temp = `${file}.tmp`
    await writeFile(temp, privateKeyToProtobuf(privateKey), { mode: 0o600 })
    await chmod(temp, 0o600)
    await rename(temp, file)
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() }
}
