import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../node/index.ts'
import { DEFAULT_MESH_HOST, DEFAULT_MESH_PORT } from '../../mesh/index.ts'

// node/config.ts repeats the mesh defaults as literals so that the CLI does not load libp2p
// just to read its configuration; this pins the two copies together.
describe('mesh defaults in the configuration', () => {
  it('match the mesh module constants', () => {
    const config = loadConfig({ env: {} })
    expect(config.mesh.host).toBe(DEFAULT_MESH_HOST)
    expect(config.mesh.port).toBe(DEFAULT_MESH_PORT)
  })
})
