import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { createMeshHost } from '../../mesh/index.ts'

// Regression: xsalsa20 1.2.0 (the cipher behind the mesh key) grew its shared WebAssembly memory
// by a whole input's size each time an instance with a view detached by another instance's growth
// saw a large input, until "WebAssembly.Memory.grow(): Maximum memory size exceeded" crashed the
// node in the middle of swarm transfers (bench/swarm: four of five nodes died). Loading the mesh
// host installs the fix.
void createMeshHost

interface XSalsa20 {
  update(input: Uint8Array): Uint8Array
}

describe('mesh key cipher (xsalsa20) under many connections and 1 MiB messages', () => {
  const pnetRequire = createRequire(createRequire(import.meta.url).resolve('@libp2p/pnet'))
  const xsalsa20 = pnetRequire('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => XSalsa20
  const nonce = new Uint8Array(24).fill(1)
  const key = new Uint8Array(32).fill(2)

  it('forty ciphers taking turns with growing 1 MiB-range inputs do not exhaust the memory', () => {
    const ciphers = Array.from({ length: 40 }, () => xsalsa20(nonce, key))
    for (let round = 1; round <= 4; round++) for (const c of ciphers) c.update(new Uint8Array(round * 1024 * 1024))
    expect(ciphers.length).toBe(40)
  })

  it('the keystream stays right across a growth caused by another cipher', () => {
    const whole = Buffer.from(xsalsa20(nonce, key).update(Buffer.alloc(3 * 1024 * 1024, 7)))
    const split = xsalsa20(nonce, key)
    const first = Buffer.from(split.update(Buffer.alloc(1024 * 1024, 7)))
    xsalsa20(nonce, key).update(new Uint8Array(8 * 1024 * 1024)) // another instance grows the memory
    const rest = Buffer.from(split.update(Buffer.alloc(2 * 1024 * 1024, 7)))
    expect(Buffer.concat([first, rest]).equals(whole)).toBe(true)
  })
})
