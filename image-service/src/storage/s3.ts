import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { ImageError } from '../errors.ts';
import { Limiter } from '../limiter.ts';
import type { SourceHead, SourceInfo, SourceObject, SourceStore } from './types.ts';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing '/'. */
  prefix: string;
  /** Endpoint for a non-AWS server (versitygw, MinIO...); undefined for AWS. */
  endpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /**
   * Requests to S3 in flight at once (opens, downloads until their body is read or released,
   * metadata reads): beyond it they wait, within their deadline, then are shed (503). Default 64.
   */
  maxConcurrent?: number;
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
  readonly #permits: Limiter;

  constructor(options: S3StoreOptions, client?: S3Client) {
    const permits = options.maxConcurrent ?? 64;
    this.#permits = new Limiter({ concurrency: permits, queueLimit: permits * 16 });
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

  /** The whole object. Its permit is held until the body has been read, has failed, or is discarded. */
  async open(key: string, signal: AbortSignal): Promise<SourceObject> {
    const release = await this.#permit(signal);
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), {
        abortSignal: signal,
      });
      const body = out.Body as Readable | undefined;
      if (!body) throw new ImageError('storage_unavailable', 'storage returned no body');
      body.once('close', release);
      body.once('end', release);
      body.once('error', release);
      return {
        info: infoOf(out, out.ContentLength),
        body,
        discard: () => {
          body.destroy();
          release();
        },
      };
    } catch (err) {
      release();
      throw mapS3Error(err, key, signal);
    }
  }

  /**
   * Metadata only (HeadObject), or with the first bytes (one GetObject of that range: the total
   * size comes from Content-Range). Never downloads the object.
   */
  async stat(key: string, signal: AbortSignal, options: { headBytes?: number } = {}): Promise<SourceHead> {
    const release = await this.#permit(signal);
    const Key = this.#prefix + key;
    try {
      const n = options.headBytes ?? 0;
      if (n > 0) {
        try {
          const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key, Range: `bytes=0-${n - 1}` }), { abortSignal: signal });
          const head = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
          const total = /\/([0-9]+)$/.exec(out.ContentRange ?? '')?.[1];
          return { info: infoOf(out, total !== undefined ? Number(total) : out.ContentLength), head: head.subarray(0, n) };
        } catch (err) {
          // An empty object has no byte 0: S3 refuses the range (416); its metadata is all there is.
          if (!(err instanceof S3ServiceException && (err.name === 'InvalidRange' || err.$metadata.httpStatusCode === 416))) throw err;
        }
      }
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key }), { abortSignal: signal });
      return { info: infoOf(out, out.ContentLength), head: Buffer.alloc(0) };
    } catch (err) {
      throw mapS3Error(err, key, signal);
    } finally {
      release();
    }
  }

  async #permit(signal: AbortSignal): Promise<() => void> {
    try {
      return await this.#permits.acquire(signal);
    } catch (err) {
      if (err instanceof ImageError && err.code === 'overloaded') {
        throw this.#permits.shed(`overloaded: ${this.#permits.concurrency} storage requests in flight and ${this.#permits.queued} waiting; retry later`, err);
      }
      throw mapS3Error(err, '', signal);
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

function infoOf(out: { LastModified?: Date; ETag?: string; ContentType?: string }, size: number | undefined): SourceInfo {
  return {
    size: size ?? 0,
    lastModified: out.LastModified ?? new Date(0),
    version: out.ETag?.replaceAll('"', '') ?? `${size}-${out.LastModified?.getTime()}`,
    contentType: out.ContentType,
  };
}

function mapS3Error(err: unknown, key: string, signal: AbortSignal): ImageError {
  if (err instanceof ImageError) return err;
  if (signal.aborted) return new ImageError('timeout', 'timed out waiting for storage', { cause: err });
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    // AccessDenied: with the least-privilege policy (s3:GetObject without s3:ListBucket) S3 answers
    // 403 instead of 404 for a key that does not exist, so a 403 on an object is a missing original.
    // HeadObject has no body, so its 403 has no name ('Forbidden' or 'Unknown' depending on the
    // server): any 403 on an object then. On GetObject a wrong key or secret has its own name
    // (InvalidAccessKeyId, SignatureDoesNotMatch) and stays storage_unavailable; /readyz
    // (HeadBucket, no key) reports bad credentials in any case.
    const CREDENTIAL_ERRORS = ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'RequestTimeTooSkewed'];
    const denied = status === 403 && !CREDENTIAL_ERRORS.includes(err.name);
    if (err.name === 'NoSuchKey' || err.name === 'NotFound' || status === 404 || (denied && key !== '')) {
      return new ImageError('not_found', `no original with key ${JSON.stringify(key)}`, { cause: err });
    }
  }
  return new ImageError('storage_unavailable', 'storage unavailable', { cause: err });
}
