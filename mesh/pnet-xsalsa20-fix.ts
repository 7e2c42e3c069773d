/*
 * Works around a bug in xsalsa20 1.2.0, the cipher of @libp2p/pnet (the mesh key).
 *
 * Every XSalsa20 instance keeps its own view of the one WebAssembly memory they share. When one
 * instance grows the memory (an input larger than any before), every other instance's view is
 * detached (length 0), and the next large input through such an instance grows the memory again
 * by its whole size instead of by what is missing. With many connections (two instances each)
 * carrying 1 MiB chunks, the memory grew until WebAssembly's maximum and the node crashed with
 * "RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded" in the middle of swarm
 * transfers (found by bench/swarm: four of five nodes died).
 *
 * The fix: an instance whose view was detached takes the newest live view before it computes
 * how much to grow. Loaded once by mesh/host.ts, before any connection exists.
 */
import { createRequire } from 'node:module'

interface WasmXor {
  _memory: Uint8Array
  update(input: Uint8Array, output: Uint8Array): void
  finalize(): void
}

interface XSalsa20Instance {
  _xor: WasmXor | null
}

type XSalsa20Factory = (nonce: Uint8Array, key: Uint8Array) => XSalsa20Instance

const PATCHED = Symbol.for('artifact-keeper.xsalsa20-memory-fix')

function patch(): void {
  const require = createRequire(import.meta.url)
  // Resolved as @libp2p/pnet resolves it, so the patched prototype is the one it uses.
  const pnetRequire = createRequire(require.resolve('@libp2p/pnet'))
  const factory = pnetRequire('xsalsa20') as XSalsa20Factory
  const probe = factory(new Uint8Array(24), new Uint8Array(32))
  const xor = probe._xor
  // No WebAssembly: xsalsa20 uses its pure-JS fallback, which has no shared memory to fix.
  if (!xor || !('_memory' in xor)) return
  const proto = Object.getPrototypeOf(xor) as WasmXor & { [PATCHED]?: boolean }
  xor.finalize()
  if (proto[PATCHED]) return
  let latest: Uint8Array | undefined
  const refresh = (self: WasmXor) => {
    if (self._memory.byteLength === 0 && latest && latest.byteLength > 0) self._memory = latest
  }
  const update = proto.update
  const finalize = proto.finalize
  proto.update = function (this: WasmXor, input: Uint8Array, output: Uint8Array) {
    refresh(this)
    update.call(this, input, output)
    latest = this._memory
  }
  proto.finalize = function (this: WasmXor) {
    refresh(this)
    finalize.call(this)
  }
  proto[PATCHED] = true
}

patch()
