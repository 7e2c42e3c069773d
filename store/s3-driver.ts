import { createReadStream } from 'node:fs'
import { unlink } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import type * as S3Sdk from '@aws-sdk/client-s3'
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3'
import type { BlobDriver, ByteRange, DriverObject } from './blob-driver.ts'
import { BlobNotFoundError, StorageError } from './errors.ts'
import { BLOB_IO_BUFFER, DEFAULT_S3_PART_SIZE, DEFAULT_S3_QUEUE_SIZE } from './constants.ts'
import { SHA256_HEX } from './digests.ts'

export interface S3DriverInit {
  bucket: string
  /** Custom endpoint (MinIO, s3rver…); unset for AWS. */
  endpoint?: string | undefined
  /** @default 'us-east-1' */
  region?: string | undefined
  accessKeyId?: string | undefined
  secretAccessKey?: string | undefined
  /** Path-style addressing (http://host/bucket/key), which most self-hosted servers need. @default false */
  forcePathStyle?: boolean | undefined
  /** Key prefix inside the bucket. @default '' */
  prefix?: string | undefined
  /** Multipart part size in bytes. @default DEFAULT_S3_PART_SIZE (16 MiB) */
  partSize?: number | undefined
  /** Parts in flight per upload. @default DEFAULT_S3_QUEUE_SIZE (4) */
  queueSize?: number | undefined
}

type Sdk = typeof S3Sdk
let sdkLoading: Promise<Sdk> | undefined

/**
 * The AWS SDK is imported on a driver's first request, not with this module: it costs about
 * 0.3 s and tens of MiB at start-up, which a node on the filesystem backend never needs.
 */
function loadSdk(): Promise<Sdk> {
  return (sdkLoading ??= import('@aws-sdk/client-s3'))
}

/** S3 driver: one object per blob at <prefix>sha256/ab/<digest>, multipart for large blobs. */
export function createS3Driver(init: S3DriverInit): BlobDriver {
  return new S3Driver(init)
}

function isNotFound(sdk: Sdk, err: unknown): boolean {
  if (err instanceof sdk.S3ServiceException) {
    return err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound'
  }
  return false
}

class S3Driver implements BlobDriver {
  readonly kind = 's3'
  private readonly init: S3DriverInit
  private connecting: Promise<{ sdk: Sdk; client: S3Client }> | undefined
  private readonly bucket: string
  private readonly prefix: string
  private readonly partSize: number
  private readonly queueSize: number

  constructor(init: S3DriverInit) {
    this.bucket = init.bucket
    this.prefix = init.prefix ?? ''
    this.partSize = init.partSize ?? DEFAULT_S3_PART_SIZE
    this.queueSize = init.queueSize ?? DEFAULT_S3_QUEUE_SIZE
    this.init = init
  }

  /** The SDK and the client, made on first use (loadSdk). */
  private s3(): Promise<{ sdk: Sdk; client: S3Client }> {
    return (this.connecting ??= loadSdk().then((sdk) => ({ sdk, client: this.newClient(sdk) })))
  }

  private newClient(sdk: Sdk): S3Client {
    const init = this.init
    return new sdk.S3Client({
      endpoint: init.endpoint,
      region: init.region ?? 'us-east-1',
      forcePathStyle: init.forcePathStyle ?? false,
      // Part bodies are file streams: a default (flexible) checksum would re-frame them as
      // aws-chunked, which self-hosted servers such as s3rver store verbatim, corrupting the blob.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      credentials:
        init.accessKeyId && init.secretAccessKey
          ? { accessKeyId: init.accessKeyId, secretAccessKey: init.secretAccessKey }
          : undefined,
    })
  }

  private objectKey(key: string): string {
    if (!SHA256_HEX.test(key)) throw new BlobNotFoundError(`invalid blob key '${key}'`)
    return `${this.prefix}sha256/${key.slice(0, 2)}/${key}`
  }

  /**
   * Uploads the (already verified) temp file. Each part is streamed from its byte range of the
   * file rather than buffered: lib-storage's Upload held partSize × (queueSize + 2) bytes, over
   * 150 MiB of RSS for a 1 GiB blob (test/acceptance/large-artifact-roundtrip.test.ts).
   */
  async putFile(key: string, filePath: string, size: number): Promise<void> {
    const Key = this.objectKey(key)
    try {
      const { sdk, client } = await this.s3()
      if (size <= this.partSize) {
        await client.send(
          new sdk.PutObjectCommand({
            Bucket: this.bucket,
            Key,
            Body: createReadStream(filePath, { highWaterMark: BLOB_IO_BUFFER }),
            ContentLength: size,
            ContentType: 'application/octet-stream',
          }),
        )
      } else {
        await this.putMultipart(sdk, client, Key, filePath, size)
      }
    } catch (err) {
      throw new StorageError(`S3 upload of blob ${key} failed: ${(err as Error).message}`)
    }
    await unlink(filePath)
  }

  private async putMultipart(sdk: Sdk, client: S3Client, Key: string, filePath: string, size: number): Promise<void> {
    const { UploadId } = await client.send(
      new sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key, ContentType: 'application/octet-stream' }),
    )
    const count = Math.ceil(size / this.partSize)
    const parts: CompletedPart[] = []
    let next = 0
    const worker = async () => {
      while (next < count) {
        const index = next++
        const start = index * this.partSize
        const end = Math.min(size, start + this.partSize) - 1
        const out = await client.send(
          new sdk.UploadPartCommand({
            Bucket: this.bucket,
            Key,
            UploadId,
            PartNumber: index + 1,
            ContentLength: end - start + 1,
            Body: createReadStream(filePath, { start, end, highWaterMark: BLOB_IO_BUFFER }),
          }),
        )
        parts[index] = { ETag: out.ETag, PartNumber: index + 1 }
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(this.queueSize, count) }, worker))
      await client.send(
        new sdk.CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
      )
    } catch (err) {
      await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => {})
      throw err
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const { sdk, client } = await this.s3()
    try {
      const Key = this.objectKey(key)
      const out = await client.send(
        new sdk.GetObjectCommand({
          Bucket: this.bucket,
          Key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      )
      return out.Body as Readable
    } catch (err) {
      if (isNotFound(sdk, err)) throw new BlobNotFoundError(`blob ${key} not found`)
      throw new StorageError(`S3 read of blob ${key} failed: ${(err as Error).message}`)
    }
  }

  async stat(key: string): Promise<DriverObject | undefined> {
    const { sdk, client } = await this.s3()
    try {
      const Key = this.objectKey(key)
      const out = await client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key }))
      return { key, size: out.ContentLength ?? 0, mtimeMs: out.LastModified?.getTime() ?? 0 }
    } catch (err) {
      if (isNotFound(sdk, err)) return undefined
      throw new StorageError(`S3 stat of blob ${key} failed: ${(err as Error).message}`)
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key)
    const { sdk, client } = await this.s3()
    await client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key }))
  }

  async *list(): AsyncIterable<DriverObject> {
    const { sdk, client } = await this.s3()
    let token: string | undefined
    do {
      const out = await client.send(
        new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.prefix}sha256/`, ContinuationToken: token }),
      )
      for (const o of out.Contents ?? []) {
        const key = o.Key?.slice(o.Key.lastIndexOf('/') + 1) ?? ''
        if (SHA256_HEX.test(key)) yield { key, size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() ?? 0 }
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined
    } while (token)
  }

  async check(): Promise<void> {
    const { sdk, client } = await this.s3()
    await client.send(new sdk.HeadBucketCommand({ Bucket: this.bucket }))
  }
}
