/**
 * One contract for every SourceStore adapter: the same cases run against the directory store and
 * against S3 on a real versitygw server.
 */
import { describe, expect, it } from 'vitest';
import { ImageError } from '../../src/errors.ts';
import type { SourceStore } from '../../src/storage/index.ts';

export interface StoreHarness {
  store: SourceStore;
  /** Writes an original under `key` by the back door (the directory, or a PutObject). */
  put(key: string, bytes: Buffer): Promise<void>;
}

async function readBody(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function sourceStoreContract(name: string, setup: () => Promise<StoreHarness>): void {
  describe(`SourceStore contract: ${name}`, () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

    it('opens an original with its size, date, version and bytes', async () => {
      const h = await setup();
      const bytes = Buffer.concat([png, Buffer.alloc(1000, 7)]);
      await h.put('dir/sub/a.png', bytes);
      const obj = await h.store.open('dir/sub/a.png', AbortSignal.timeout(5000));
      expect(obj.info.size).toBe(bytes.length);
      expect(obj.info.lastModified.getTime()).toBeGreaterThan(Date.now() - 3_600_000);
      expect(obj.info.version.length).toBeGreaterThan(0);
      expect(await readBody(obj.body)).toEqual(bytes);
    });

    it('changes the version when the bytes change', async () => {
      const h = await setup();
      await h.put('v.png', Buffer.concat([png, Buffer.from('one')]));
      const first = await h.store.open('v.png', AbortSignal.timeout(5000));
      first.discard();
      await new Promise((r) => setTimeout(r, 20));
      await h.put('v.png', Buffer.concat([png, Buffer.from('two, longer')]));
      const second = await h.store.open('v.png', AbortSignal.timeout(5000));
      second.discard();
      expect(second.info.version).not.toBe(first.info.version);
    });

    it('answers not_found for a missing key', async () => {
      const h = await setup();
      const err = await h.store.open('missing/nothing.jpg', AbortSignal.timeout(5000)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageError);
      expect((err as ImageError).code).toBe('not_found');
      expect((err as ImageError).status).toBe(404);
    });

    it('is reachable', async () => {
      const h = await setup();
      await expect(h.store.ping(AbortSignal.timeout(5000))).resolves.toBeUndefined();
    });
  });
}
