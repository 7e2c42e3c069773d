/** An opened store on a fresh temp data dir (fs blobs), for store-level tests. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { createFsDriver, openStore, type BlobDigests, type Store } from '../../store/index.ts'

export interface StoreFixture {
  store: Store
  dataDir: string
  blobsDir: string
  /** Ingests `data` into the blob store (not yet referenced by anything). */
  blob(data: Buffer | string): Promise<BlobDigests>
  close(): void
}

export function openTestStore(): StoreFixture {
  const dataDir = mkdtempSync(join(tmpdir(), 'ak-store-'))
  const blobsDir = join(dataDir, 'blobs')
  const store = openStore({ dataDir, driver: createFsDriver(blobsDir), nodeId: 'test-node' })
  return {
    store,
    dataDir,
    blobsDir,
    blob: (data) => store.blobs.ingest(Readable.from([Buffer.from(data)])),
    close() {
      store.close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Where the fs driver keeps a blob. */
export function blobFile(blobsDir: string, sha256: string): string {
  return join(blobsDir, 'sha256', sha256.slice(0, 2), sha256)
}
