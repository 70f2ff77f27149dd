import { fileURLToPath } from 'node:url';
import { FsSourceStore } from './fs.ts';
import { S3SourceStore } from './s3.ts';
import type { SourceStore } from './types.ts';

export type { SourceInfo, SourceObject, SourceStore } from './types.ts';
export { FsSourceStore } from './fs.ts';
export { S3SourceStore } from './s3.ts';

/** Storage settings as the config module validated them. */
export interface StorageConfig {
  url: URL;
  s3Endpoint: string | undefined;
  s3Region: string;
  s3ForcePathStyle: boolean;
}

/** Builds the adapter a STORAGE_URL names: file:///dir or s3://bucket/prefix. */
export function createSourceStore(config: StorageConfig): SourceStore {
  if (config.url.protocol === 'file:') return new FsSourceStore(fileURLToPath(config.url));
  return new S3SourceStore({
    bucket: config.url.hostname,
    prefix: config.url.pathname.replace(/^\/+|\/+$/g, ''),
    endpoint: config.s3Endpoint,
    region: config.s3Region,
    forcePathStyle: config.s3ForcePathStyle,
  });
}
