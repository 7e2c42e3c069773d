export {
  createPeerProfiles,
  type PeerAdvertisement,
  type PeerInfoAccessor,
  type PeerProfiles,
  type PeerProfilesComponents,
  type PeerProfilesInit,
  type PeerProfileView,
} from './peer-profiles.ts'
export { addRttSample, addThroughputSample, ewma, type RttEstimate, type ThroughputEstimate } from './ewma.ts'
export { ProbeError, ProbeLimiter, PROBE_BUSY, PROBE_OK, type ProbeResult } from './probe.ts'
export { TRANSFER_KINDS, type TransferKind } from '../../store/index.ts'
export * from './constants.ts'
