import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3SourceStore } from '../../src/storage/s3.ts';
import { startVersitygw, type RunningS3 } from '../../../support/services.ts';
import { sourceStoreContract } from './contract.ts';

let s3: RunningS3;
let client: S3Client;
let bucketNo = 0;

beforeAll(async () => {
  s3 = await startVersitygw();
  client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});
afterAll(async () => {
  client?.destroy();
  await s3?.stop();
});

function storeFor(bucket: string, prefix: string, endpoint = s3.endpoint): S3SourceStore {
  process.env.AWS_ACCESS_KEY_ID = s3.accessKey;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretKey;
  return new S3SourceStore({ bucket, prefix, endpoint, region: 'us-east-1', forcePathStyle: true });
}

sourceStoreContract('S3 on versitygw', async () => {
  const bucket = `contract-${++bucketNo}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const prefix = 'originals';
  return {
    store: storeFor(bucket, prefix),
    async put(key, bytes) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}`, Body: bytes }));
    },
  };
});

describe('S3SourceStore against a real server', () => {
  it('reports storage_unavailable when nothing listens at the endpoint', async () => {
    const store = storeFor('any', '', 'http://127.0.0.1:9');
    await expect(store.open('a.jpg', AbortSignal.timeout(5000))).rejects.toMatchObject({ code: 'storage_unavailable', status: 502 });
    await expect(store.ping(AbortSignal.timeout(5000))).rejects.toMatchObject({ code: 'storage_unavailable' });
  });

  it('reports timeout when the deadline passes first', async () => {
    const store = storeFor('contract-1', 'originals');
    const signal = AbortSignal.abort(new Error('deadline'));
    await expect(store.open('dir/sub/a.png', signal)).rejects.toMatchObject({ code: 'timeout', status: 504 });
  });

  it('reports timeout (504) when the server accepts but never answers, within the deadline it was given', async () => {
    // A hung storage server: the TCP connection opens, no HTTP answer ever comes.
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => sockets.add(socket));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const port = (hung.address() as AddressInfo).port;
      const store = storeFor('any', '', `http://127.0.0.1:${port}`);
      await expect(store.open('a.jpg', AbortSignal.timeout(300))).rejects.toMatchObject({ code: 'timeout', status: 504 });
      await expect(store.ping(AbortSignal.timeout(300))).rejects.toMatchObject({ code: 'timeout' });
      store.destroy();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => hung.close(r));
    }
  });

  it('reads the stored content type', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'typed' }));
    await client.send(new PutObjectCommand({ Bucket: 'typed', Key: 'a.webp', Body: Buffer.from('RIFF0000WEBP'), ContentType: 'image/webp' }));
    const obj = await storeFor('typed', '').open('a.webp', AbortSignal.timeout(5000));
    obj.discard();
    expect(obj.info.contentType).toBe('image/webp');
  });
});
