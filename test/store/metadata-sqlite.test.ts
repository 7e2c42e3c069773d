import { generateKeyPairSync, sign } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMemoryDriver, openStore, type Store } from '../../store/index.ts'
import { metadataConformance } from './metadata-conformance.ts'

metadataConformance('embedded SQLite', () => {
  const opened: { store: Store; dir: string }[] = []
  return {
    async open(nodeId) {
      const dir = mkdtempSync(join(tmpdir(), 'ak-meta-'))
      const { privateKey } = generateKeyPairSync('ed25519')
      const store = openStore({ dataDir: dir, driver: createMemoryDriver(), nodeId, sign: (bytes) => sign(null, bytes, privateKey) })
      opened.push({ store, dir })
      return store
    },
    async close() {
      for (const { store, dir } of opened.splice(0)) {
        store.close()
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
})
