/**
 * The result cache in the real service process (RESULT_CACHE_MB, and a disk tier), over HTTP, on a
 * real directory and on real S3 (versitygw): a repeat is answered without a render, a replaced
 * original (new mtime and size; new S3 ETag) is rendered afresh, a deleted one answers 404.
 */
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImageService, startVersitygw, type RunningS3, type RunningService } from '../../stack/services.ts';

const solid = (r: number, g: number, b: number, width: number) =>
  sharp({ create: { width, height: 300, channels: 3, background: { r, g, b } } })
    .jpeg({ quality: 90 })
    .toBuffer();

/** The average colour of an answer: which original it was rendered from. */
async function colourOf(res: Response): Promise<'red' | 'blue' | 'other'> {
  const { data } = await sharp(Buffer.from(await res.arrayBuffer()))
    .resize(1, 1)
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (data[0]! > 150 && data[2]! < 100) return 'red';
  if (data[2]! > 150 && data[0]! < 100) return 'blue';
  return 'other';
}

async function metric(service: RunningService, name: string): Promise<number> {
  const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name) && !l.startsWith('#'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** The cache's behaviour, whatever holds the originals: `put` stores (or replaces) one, `remove` deletes it. */
function cacheSuite(
  name: string,
  setup: () => Promise<{ service: RunningService; put(key: string, bytes: Buffer): Promise<void>; remove(key: string): Promise<void> }>,
) {
  describe(name, () => {
    let ctx: Awaited<ReturnType<typeof setup>>;
    beforeAll(async () => {
      ctx = await setup();
    }, 120_000);

    it('answers a repeat from the cache, renders a replaced original afresh, and gives 404 once it is deleted', async () => {
      const url = `${ctx.service.url}/image/files/dir/photo.jpg?w=200`;
      await ctx.put('dir/photo.jpg', await solid(220, 20, 20, 400));
      const first = await fetch(url);
      expect([first.status, await colourOf(first)]).toEqual([200, 'red']);
      const repeat = await fetch(url);
      expect([repeat.status, await colourOf(repeat), repeat.headers.get('etag')]).toEqual([200, 'red', first.headers.get('etag')]);
      expect(repeat.headers.get('x-cache')).toBeNull();
      expect(await metric(ctx.service, 'image_resizes_total')).toBe(1);
      expect(await metric(ctx.service, 'image_result_cache_hits_total')).toBe(1);

      // Replaced: other bytes, another size. The very next request must not see the old picture.
      await ctx.put('dir/photo.jpg', await solid(20, 20, 220, 401));
      const replaced = await fetch(url);
      expect([replaced.status, await colourOf(replaced)]).toEqual([200, 'blue']);
      expect(replaced.headers.get('etag')).not.toBe(first.headers.get('etag'));
      expect(await metric(ctx.service, 'image_resizes_total')).toBe(2);
      expect(await metric(ctx.service, 'image_result_cache_invalidations_total')).toBeGreaterThanOrEqual(1);

      await ctx.remove('dir/photo.jpg');
      const gone = await fetch(url);
      expect(gone.status).toBe(404);
      expect(((await gone.json()) as { error: string }).error).toBe('not_found');
      expect(await metric(ctx.service, 'image_resizes_total')).toBe(2);
    }, 60_000);
  });
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

cacheSuite('result cache on a directory (memory and disk tiers)', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cache-int-fs-'));
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'cache-int-disk-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  cleanups.push(() => rmSync(cacheDir, { recursive: true, force: true }));
  const service = await startImageService({
    STORAGE_URL: pathToFileURL(root).href,
    RESULT_CACHE_MB: '16',
    RESULT_CACHE_DIR: cacheDir,
    RESULT_CACHE_DISK_MB: '64',
  });
  cleanups.push(() => service.stop());
  return {
    service,
    async put(key, bytes) {
      mkdirFor(path.join(root, key));
      writeFileSync(path.join(root, key), bytes);
    },
    async remove(key) {
      unlinkSync(path.join(root, key));
    },
  };
});

cacheSuite('result cache on S3 (versitygw): invalidated by the ETag', async () => {
  const s3: RunningS3 = await startVersitygw({ buckets: [] });
  cleanups.push(() => s3.stop());
  const client: S3Client = s3.client();
  cleanups.push(() => client.destroy());
  await client.send(new CreateBucketCommand({ Bucket: 'cached' }));
  const service = await startImageService({ ...s3.clientEnv, STORAGE_URL: 's3://cached/originals', S3_ENDPOINT: s3.endpoint, RESULT_CACHE_MB: '16' });
  cleanups.push(() => service.stop());
  return {
    service,
    async put(key, bytes) {
      await client.send(new PutObjectCommand({ Bucket: 'cached', Key: `originals/${key}`, Body: bytes, ContentType: 'image/jpeg' }));
    },
    async remove(key) {
      await client.send(new DeleteObjectCommand({ Bucket: 'cached', Key: `originals/${key}` }));
    },
  };
});

function mkdirFor(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
}
