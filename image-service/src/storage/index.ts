import { fileURLToPath } from 'node:url';
import { FsSourceStore } from './fs.ts';
import type { SourceStore } from './types.ts';

export type { LocalFile, SourceHead, SourceInfo, SourceObject, SourceStore } from './types.ts';
export { FsSourceStore } from './fs.ts';

/** Storage settings as the config module validated them. */
export interface StorageConfig {
  url: URL;
  s3Endpoint: string | undefined;
  s3Region: string;
  s3ForcePathStyle: boolean;
  /** S3 requests in flight at once (STORAGE_CONCURRENCY). */
  maxConcurrent?: number;
}

/**
 * Builds the adapter a STORAGE_URL names: file:///dir or s3://bucket/prefix. The S3 adapter is
 * imported only when it is used: @aws-sdk/client-s3 alone adds ~13 MB to the resident set of a
 * service that reads a local directory.
 */
export async function createSourceStore(config: StorageConfig): Promise<SourceStore> {
  if (config.url.protocol === 'file:') return new FsSourceStore(fileURLToPath(config.url));
  const { S3SourceStore } = await import('./s3.ts');
  return new S3SourceStore({
    bucket: config.url.hostname,
    prefix: config.url.pathname.replace(/^\/+|\/+$/g, ''),
    endpoint: config.s3Endpoint,
    region: config.s3Region,
    forcePathStyle: config.s3ForcePathStyle,
    maxConcurrent: config.maxConcurrent,
  });
}
