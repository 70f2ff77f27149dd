import { GetObjectCommand, HeadBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { ImageError } from '../errors.ts';
import type { SourceObject, SourceStore } from './types.ts';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing '/'. */
  prefix: string;
  /** Endpoint for a non-AWS server (versitygw, MinIO...); undefined for AWS. */
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
}

/**
 * Originals in S3 through @aws-sdk/client-s3. Credentials come from the SDK's standard chain
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / profiles). Checksums are only computed or
 * validated when an operation requires them, because several S3-compatible servers reject or
 * omit the newer default checksums.
 */
export class S3SourceStore implements SourceStore {
  readonly description: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3StoreOptions, client?: S3Client) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ? `${options.prefix}/` : '';
    this.description = `s3://${options.bucket}/${options.prefix}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
    this.#client =
      client ??
      new S3Client({
        endpoint: options.endpoint,
        region: options.region,
        forcePathStyle: options.forcePathStyle,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        // One retry at most: the request deadline, not the SDK, decides how long a client waits.
        maxAttempts: 2,
      });
  }

  async open(key: string, signal: AbortSignal): Promise<SourceObject> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), {
        abortSignal: signal,
      });
      const body = out.Body as Readable | undefined;
      if (!body) throw new ImageError('storage_unavailable', 'storage returned no body');
      return {
        info: {
          size: out.ContentLength ?? 0,
          lastModified: out.LastModified ?? new Date(0),
          version: out.ETag?.replaceAll('"', '') ?? `${out.ContentLength}-${out.LastModified?.getTime()}`,
          contentType: out.ContentType,
        },
        body,
        discard: () => body.destroy(),
      };
    } catch (err) {
      throw mapS3Error(err, key, signal);
    }
  }

  async ping(signal: AbortSignal): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }), { abortSignal: signal });
    } catch (err) {
      throw mapS3Error(err, '', signal);
    }
  }

  destroy(): void {
    this.#client.destroy();
  }
}

function mapS3Error(err: unknown, key: string, signal: AbortSignal): ImageError {
  if (err instanceof ImageError) return err;
  if (signal.aborted) return new ImageError('timeout', 'timed out waiting for storage', { cause: err });
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    if (err.name === 'NoSuchKey' || err.name === 'NotFound' || status === 404) {
      return new ImageError('not_found', `no original with key ${JSON.stringify(key)}`, { cause: err });
    }
  }
  return new ImageError('storage_unavailable', 'storage unavailable', { cause: err });
}
