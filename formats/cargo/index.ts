import type { FastifyInstance } from 'fastify'
import type { FormatContext } from '../core/index.ts'
import { cargoPlugin } from './plugin.ts'

export * from './constants.ts'
export { CARGO_STATUS, toCargoError, type CargoWireError } from './wire-errors.ts'
export { indexPath, parseIndexPath, normalizeCrateName, crateNameProblem, validateCrateName, versionProblem, validateVersion, versionKey } from './names.ts'
export { cargoPathProblem, cargoReplicationHooks } from './replication.ts'
export { parsePublishMetadata, type IndexEntry, type IndexDependency, type PublishMetadata, type CrateDescription } from './metadata.ts'
export { readPackageId, type PackageId } from './manifest.ts'
export { readCrateManifest, type CrateScanLimits } from './crate-archive.ts'
export { PublishBodyReader, readPublishJson, readCrateLength, type PublishBodyLimits } from './publish-body.ts'
export { downloadUrl, parseIndexLines, rewriteIndexFile } from './remote.ts'

/** The cargo format: sparse index and registry Web API at /cargo/{repo}/. */
export function cargoFormat(ctx: FormatContext): (app: FastifyInstance) => Promise<void> {
  return cargoPlugin(ctx)
}
