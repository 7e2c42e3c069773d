export type { FormatContext } from './context.ts'
export { streamRawBodies, contentLength, expectedDigests } from './streaming.ts'
export { sendBlob, parseRange, checksumHeaders, type ServedFile } from './serve-blob.ts'
export { readOrder, deployTarget } from './virtual.ts'
