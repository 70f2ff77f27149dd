import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
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

describe('FsSourceStore: symlinks', () => {
  // A link in the originals directory is not an original: one pointing out of it would serve any
  // file the service can read, one pointing inside it would serve a key nobody stored.
  it.each([
    ['a link to a file outside the directory', 'out.jpg'],
    ['a link to an original inside the directory', 'alias.jpg'],
    ['a file under a linked directory (outside)', 'outdir/secret.jpg'],
    ['a file under a linked directory (inside)', 'dirlink/a.jpg'],
    ['a dangling link', 'dangling.jpg'],
  ])('%s: not_found', async (_what, key) => {
    const outside = mkdtempSync(path.join(os.tmpdir(), 'fs-outside-'));
    writeFileSync(path.join(outside, 'secret.jpg'), Buffer.from('ffd8ffe000104a464946', 'hex'));
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    mkdirSync(path.join(root, 'real'));
    writeFileSync(path.join(root, 'real/a.jpg'), Buffer.from('ffd8ffe000104a464946', 'hex'));
    symlinkSync(path.join(outside, 'secret.jpg'), path.join(root, 'out.jpg'));
    symlinkSync('real/a.jpg', path.join(root, 'alias.jpg'));
    symlinkSync(outside, path.join(root, 'outdir'));
    symlinkSync('real', path.join(root, 'dirlink'));
    symlinkSync(path.join(outside, 'gone.jpg'), path.join(root, 'dangling.jpg'));
    const store = new FsSourceStore(root);
    await expect(store.open(key, AbortSignal.timeout(5000))).rejects.toMatchObject({ code: 'not_found', status: 404 });
    await expect(store.stat(key, AbortSignal.timeout(5000))).rejects.toMatchObject({ code: 'not_found', status: 404 });
    // The real file is still served under its own key.
    (await store.open('real/a.jpg', AbortSignal.timeout(5000))).discard();
  });

  it('a root that is itself reached through a link is fine (an operator may point STORAGE_URL at one)', async () => {
    const real = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    writeFileSync(path.join(real, 'a.jpg'), Buffer.from('ffd8ffe000104a464946', 'hex'));
    const link = path.join(mkdtempSync(path.join(os.tmpdir(), 'fs-link-')), 'originals');
    symlinkSync(real, link);
    (await new FsSourceStore(link).open('a.jpg', AbortSignal.timeout(5000))).discard();
  });
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

  it('reads the opened file whole into a buffer, even once its path names another file', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fs-store-'));
    const bytes = Buffer.concat([Buffer.from('ffd8ffe0', 'hex'), Buffer.alloc(300_000, 7)]);
    writeFileSync(path.join(root, 'a.jpg'), bytes);
    const obj = await new FsSourceStore(root).open('a.jpg', AbortSignal.timeout(5000));
    // Replaced (a new file renamed over the path) after the open: the open's version is what is read.
    writeFileSync(path.join(root, 'new.jpg'), Buffer.alloc(10, 1));
    renameSync(path.join(root, 'new.jpg'), path.join(root, 'a.jpg'));
    const into = Buffer.alloc(obj.info.size);
    expect(await obj.localFile!.readInto!(into)).toBe(bytes.length);
    expect(into.equals(bytes)).toBe(true);
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
