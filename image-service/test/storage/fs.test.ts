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

  it('offers the file itself to the decoder, with its first bytes', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    const bytes = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(1000, 9)]);
    mkdirSync(path.join(root, 'd'));
    writeFileSync(path.join(root, 'd/a.png'), bytes);
    const obj = await new FsSourceStore(root).open('d/a.png', AbortSignal.timeout(5000));
    expect(obj.localFile?.path).toBe(path.join(root, 'd/a.png'));
    expect(obj.localFile?.head.equals(bytes.subarray(0, 16))).toBe(true);
    obj.discard();
  });

  it('treats a directory as a missing original', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    mkdirSync(path.join(root, 'sub'));
    await expect(new FsSourceStore(root).open('sub', AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('treats a valid key whose segment the file system cannot hold (over 255 bytes) as missing', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    await expect(new FsSourceStore(root).open('a'.repeat(512), AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('is not ready when its directory is gone', async () => {
    await expect(new FsSourceStore('/nonexistent/originals').ping()).rejects.toMatchObject({ code: 'storage_unavailable' });
  });
});
