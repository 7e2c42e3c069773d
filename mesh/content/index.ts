export * from './constants.ts'
export { blobCid, sha256OfCid, RAW_CODEC, SHA2_256_CODE } from './cid.ts'
export { createBloomFilter, bloomOver, bloomBytesFor, type BloomFilter } from './bloom.ts'
export { createHaveGossip, type HaveGossip, type HaveGossipComponents, type HaveGossipInit, type PeerAdvertisedInfo } from './have-gossip.ts'
export { haveMessage, encodeHave, decodeHave, HaveProtocolError, type HaveMessage } from './have-messages.ts'
export { createProviderAnnouncer, type ProviderAnnouncer, type ProviderAnnouncerComponents, type ProviderAnnouncerInit, type AnnouncerStats } from './announcer.ts'
export {
  createMeshContent,
  type MeshContent,
  type MeshContentComponents,
  type MeshContentInit,
  type BlobHolder,
  type BlobLocation,
  type ContentStats,
  type HolderSource,
} from './content-service.ts'
export { createMeshDirectory, type MeshDirectory, type MeshDirectoryComponents } from './directory.ts'
