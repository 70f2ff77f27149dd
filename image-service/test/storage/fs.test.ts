import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsSourceStore } from '../../src/storage/fs.ts';
import { sourceStoreContract } from './contract.ts';

sourceStoreContract('directory', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
  return {
    store: new FsSourceStore(root),
    async put(key, bytes) {
      mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
      writeFileSync(path.join(root, key), bytes);
    },
  };
});

describe('FsSourceStore', () => {
  it('labels originals by their magic bytes, as the directory keeps no content type', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    writeFileSync(path.join(root, 'x.bin'), Buffer.from('ffd8ffe000104a464946', 'hex'));
    writeFileSync(path.join(root, 'y.jpg'), 'not an image');
    const a = await new FsSourceStore(root).open('x.bin', AbortSignal.timeout(1000));
    a.discard();
    expect(a.info.contentType).toBe('image/jpeg');
    const b = await new FsSourceStore(root).open('y.jpg', AbortSignal.timeout(1000));
    b.discard();
    expect(b.info.contentType).toBe('application/octet-stream');
  });

  it('treats a directory as a missing original', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    mkdirSync(path.join(root, 'sub'));
    await expect(new FsSourceStore(root).open('sub', AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('is not ready when its directory is gone', async () => {
    await expect(new FsSourceStore('/nonexistent/originals').ping()).rejects.toMatchObject({ code: 'storage_unavailable' });
  });
});
