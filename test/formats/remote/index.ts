export { startCountingProxy, waitUntil, type CountingProxy, type SeenRequest } from './support.ts'
