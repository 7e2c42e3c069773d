import { createReadStream } from 'node:fs'
import { unlink } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
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

/** S3 driver: one object per blob at <prefix>sha256/ab/<digest>, multipart for large blobs. */
export function createS3Driver(init: S3DriverInit): BlobDriver {
  return new S3Driver(init)
}

function isNotFound(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    return err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound'
  }
  return false
}

class S3Driver implements BlobDriver {
  readonly kind = 's3'
  private readonly client: S3Client
  private readonly bucket: string
  private readonly prefix: string
  private readonly partSize: number
  private readonly queueSize: number

  constructor(init: S3DriverInit) {
    this.bucket = init.bucket
    this.prefix = init.prefix ?? ''
    this.partSize = init.partSize ?? DEFAULT_S3_PART_SIZE
    this.queueSize = init.queueSize ?? DEFAULT_S3_QUEUE_SIZE
    this.client = new S3Client({
      endpoint: init.endpoint,
      region: init.region ?? 'us-east-1',
      forcePathStyle: init.forcePathStyle ?? false,
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

  async putFile(key: string, filePath: string, size: number): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: createReadStream(filePath, { highWaterMark: BLOB_IO_BUFFER }),
        ContentLength: size,
        ContentType: 'application/octet-stream',
      },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    })
    try {
      await upload.done()
    } catch (err) {
      throw new StorageError(`S3 upload of blob ${key} failed: ${(err as Error).message}`)
    }
    await unlink(filePath)
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      )
      return out.Body as Readable
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(`blob ${key} not found`)
      throw new StorageError(`S3 read of blob ${key} failed: ${(err as Error).message}`)
    }
  }

  async stat(key: string): Promise<DriverObject | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }))
      return { key, size: out.ContentLength ?? 0, mtimeMs: out.LastModified?.getTime() ?? 0 }
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw new StorageError(`S3 stat of blob ${key} failed: ${(err as Error).message}`)
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }))
  }

  async *list(): AsyncIterable<DriverObject> {
    let token: string | undefined
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.prefix}sha256/`, ContinuationToken: token }),
      )
      for (const o of out.Contents ?? []) {
        const key = o.Key?.slice(o.Key.lastIndexOf('/') + 1) ?? ''
        if (SHA256_HEX.test(key)) yield { key, size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() ?? 0 }
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined
    } while (token)
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }))
  }
}
