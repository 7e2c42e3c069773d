export * from './constants.ts'
export {
  createChunkService,
  type ChunkService,
  type ChunkServiceComponents,
  type ChunkServiceInit,
  type ChunkServiceStats,
} from './chunk-service.ts'
export { createLibp2pChunkSource, fetchPeerChunkInfo, type Libp2pChunkSourceInit } from './libp2p-source.ts'
export { createHttpChunkSource, type HttpChunkSourceInit } from './http-source.ts'
export {
  createPeerTokenSigner,
  createPeerTokenVerifier,
  type PeerTokenSigner,
  type PeerTokenSignerInit,
  type PeerTokenVerifier,
  type PeerTokenVerifierInit,
} from './peer-token.ts'
export { corruptingLocalChunks } from './faults.ts'
export {
  chunkLength,
  haveToWire,
  haveFromWire,
  manifestToWire,
  manifestFromWire,
  sha256Hex,
  ChunkProtocolError,
  type WireHave,
  type WireManifest,
  type InfoResponse,
} from './messages.ts'
export { createStoredBlobChunks } from './stored-chunks.ts'
export { createPeerSourceFactory, type PeerSourceFactory, type PeerSourceFactoryInit } from './peer-sources.ts'
