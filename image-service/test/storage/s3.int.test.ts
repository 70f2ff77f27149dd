import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3SourceStore } from '../../src/storage/s3.ts';
import { startVersitygw, type RunningS3 } from '../../../stack/services.ts';
import { sourceStoreContract } from './contract.ts';
import { buildHarness } from '../harness.ts';

let s3: RunningS3;
let client: S3Client;
let bucketNo = 0;

beforeAll(async () => {
  s3 = await startVersitygw();
  client = s3.client();
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

describe('S3SourceStore: least privilege, metadata-only reads, bounded storage work', () => {
  let iam: RunningS3;
  let admin: S3Client;
  const jpegBytes = () =>
    sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366cc' } })
      .jpeg()
      .toBuffer();
  const clientOf = (accessKeyId: string, secretAccessKey: string, endpoint: string) =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
  /** A client that records every command it sends (name and Range). */
  const recording = (client: S3Client) => {
    const sent: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Range?: string };
        sent.push(`${context.commandName}${input.Range ? ` ${input.Range}` : ''}`);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    return sent;
  };

  beforeAll(async () => {
    iam = await startVersitygw({ iam: true });
    admin = clientOf(iam.accessKey, iam.secretKey, iam.endpoint);
    await admin.send(new CreateBucketCommand({ Bucket: 'leastpriv' }));
    await admin.send(new PutObjectCommand({ Bucket: 'leastpriv', Key: 'open.jpg', Body: await jpegBytes() }));
    await admin.send(new PutObjectCommand({ Bucket: 'leastpriv', Key: 'html.jpg', Body: await jpegBytes(), ContentType: 'text/html' }));
    iam.createUser('reader', 'readersecret0123');
    // The reader may GetObject under open/ only: no s3:ListBucket, so S3 answers 403, not 404, for what it may not see.
    await admin.send(
      new PutBucketPolicyCommand({
        Bucket: 'leastpriv',
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { AWS: ['reader'] }, Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::leastpriv/open.jpg'] }],
        }),
      }),
    );
  }, 60_000);
  afterAll(async () => {
    admin?.destroy();
    await iam?.stop();
  });

  it('AccessDenied (403) for a key the credentials may not read answers 404 not_found (open and stat)', async () => {
    const store = new S3SourceStore(
      { bucket: 'leastpriv', prefix: '', endpoint: iam.endpoint, region: 'us-east-1', forcePathStyle: true, maxConcurrent: 4 },
      clientOf('reader', 'readersecret0123', iam.endpoint),
    );
    (await store.open('open.jpg', AbortSignal.timeout(5000))).discard();
    await expect(store.open('missing.jpg', AbortSignal.timeout(5000))).rejects.toMatchObject({ code: 'not_found', status: 404 });
    await expect(store.stat('missing.jpg', AbortSignal.timeout(5000))).rejects.toMatchObject({ code: 'not_found', status: 404 });
    store.destroy();
  });

  it('stat: HeadObject for metadata, a 16-byte ranged GET for the first bytes, never a full GetObject', async () => {
    const client = clientOf(iam.accessKey, iam.secretKey, iam.endpoint);
    const sent = recording(client);
    const store = new S3SourceStore(
      { bucket: 'leastpriv', prefix: '', endpoint: iam.endpoint, region: 'us-east-1', forcePathStyle: true, maxConcurrent: 4 },
      client,
    );
    const meta = await store.stat('html.jpg', AbortSignal.timeout(5000));
    expect(meta.head.length).toBe(0);
    const withHead = await store.stat('html.jpg', AbortSignal.timeout(5000), { headBytes: 16 });
    expect(withHead.head.subarray(0, 3).toString('hex')).toBe('ffd8ff');
    expect(withHead.info.size).toBe(meta.info.size);
    expect(withHead.info.version).toBe(meta.info.version);
    expect(sent).toEqual(['HeadObjectCommand', 'GetObjectCommand bytes=0-15']);
    store.destroy();
  });

  it('through the service: a plain download of an object stored as text/html is served as image/jpeg; HEAD and revalidation send no full GetObject', async () => {
    const client = clientOf(iam.accessKey, iam.secretKey, iam.endpoint);
    const sent = recording(client);
    const store = new S3SourceStore(
      { bucket: 'leastpriv', prefix: '', endpoint: iam.endpoint, region: 'us-east-1', forcePathStyle: true, maxConcurrent: 4 },
      client,
    );
    const h = buildHarness(store);
    const res = await h.app.request('/image/files/html.jpg');
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    const etag = res.headers.get('etag')!;
    expect(
      Buffer.from(await res.arrayBuffer())
        .subarray(0, 2)
        .toString('hex'),
    ).toBe('ffd8');
    sent.length = 0;
    const head = await h.app.request('/image/files/html.jpg', { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    expect((await h.app.request('/image/files/html.jpg', { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect(sent).toEqual(['GetObjectCommand bytes=0-15', 'HeadObjectCommand']);
    store.destroy();
  });

  it('bounds storage opens and downloads: with one permit, a second open waits for the first body, and is shed (503) at its deadline', async () => {
    const store = new S3SourceStore(
      { bucket: 'leastpriv', prefix: '', endpoint: iam.endpoint, region: 'us-east-1', forcePathStyle: true, maxConcurrent: 1 },
      clientOf(iam.accessKey, iam.secretKey, iam.endpoint),
    );
    const first = await store.open('open.jpg', AbortSignal.timeout(5000));
    await expect(store.open('html.jpg', AbortSignal.timeout(300))).rejects.toMatchObject({ code: 'overloaded', status: 503 });
    await expect(store.stat('html.jpg', AbortSignal.timeout(300))).rejects.toMatchObject({ code: 'overloaded', status: 503 });
    // Reading the first body to its end gives the permit back.
    for await (const _ of first.body) void _;
    (await store.open('html.jpg', AbortSignal.timeout(5000))).discard();
    // Discarding gives it back as well.
    (await store.open('html.jpg', AbortSignal.timeout(5000))).discard();
    store.destroy();
  });
});
