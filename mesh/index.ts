export { loadOrCreateIdentity, NODE_KEY_FILE, type NodeIdentity } from './identity.ts'
