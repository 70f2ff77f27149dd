/**
 * The storage rig shared by `storage-slow` and `storage-down`: versitygw behind a delaying proxy,
 * and an image service on S3 through it. Started once, on first use, and reset to pass-through for
 * every scenario that asks for it; the run loop stops it at the end (stopStorageRig).
 */
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startDelayProxy, type DelayProxy } from '../../support/delay-proxy.ts';
import { startImageService, startVersitygw, type RunningS3, type RunningService } from '../../stack/services.ts';
import type { Context } from './rig.ts';

export interface StorageRig {
  s3: RunningS3;
  proxy: DelayProxy;
  service: RunningService;
  storageTimeoutMs: number;
  requestTimeoutMs: number;
  concurrency: number;
  queueLimit: number;
  stop(): Promise<void>;
}

async function startStorageRig(ctx: Context): Promise<StorageRig> {
  const s3 = await startVersitygw();
  const client = s3.client();
  await client.send(new CreateBucketCommand({ Bucket: 'originals' }));
  for (const p of ctx.photos) {
    await client.send(
      new PutObjectCommand({
        Bucket: 'originals',
        Key: p,
        Body: readFileSync(path.join(ctx.storageDir, p)),
        ContentType: p.endsWith('.webp') ? 'image/webp' : 'image/jpeg',
      }),
    );
  }
  client.destroy();
  const proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: s3.port } });
  const rig = { storageTimeoutMs: 500, requestTimeoutMs: 2500, concurrency: 2, queueLimit: 16 };
  const service = await startImageService({
    ...s3.clientEnv,
    STORAGE_URL: 's3://originals',
    S3_ENDPOINT: proxy.url,
    STORAGE_TIMEOUT_MS: String(rig.storageTimeoutMs),
    REQUEST_TIMEOUT_MS: String(rig.requestTimeoutMs),
    CONCURRENCY: String(rig.concurrency),
    QUEUE_LIMIT: String(rig.queueLimit),
  });
  return {
    s3,
    proxy,
    service,
    ...rig,
    async stop() {
      await service.stop();
      await proxy.close();
      await s3.stop();
    },
  };
}

let storageRig: StorageRig | undefined;
export async function rigFor(ctx: Context): Promise<StorageRig> {
  storageRig ??= await startStorageRig(ctx);
  await storageRig.proxy.setMode({ kind: 'pass' });
  return storageRig;
}

export async function stopStorageRig(): Promise<void> {
  await storageRig?.stop();
  storageRig = undefined;
}
