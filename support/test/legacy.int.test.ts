/**
 * The legacy backend beyond the hot endpoint (section 2 of the contract: upload, batch delete,
 * health, other paths), its failure modes (PHP-FPM down, ImageMagick's policy caps), the runner
 * in stack/legacy.ts, and the parity of its PHP parsing and geometry with the new service's.
 * Real nginx, real PHP-FPM, real Imagick.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planResize } from '../../image-service/src/geometry.ts';
import { canonicalVariant, parseImageRequest, parseKey, queryPairs } from '../../image-service/src/params.ts';
import { rawRequest } from '../contract/client.ts';
import { pngHeaderOnly } from '../contract/images.ts';
import { legacyDir, renderLegacyConfigs, renderTemplate, startLegacy, type RunningLegacy } from '../../stack/legacy.ts';

const jpeg = () =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: '#3366cc' } })
    .jpeg()
    .toBuffer();
const png = () =>
  sharp({ create: { width: 40, height: 30, channels: 4, background: '#ff000080' } })
    .png()
    .toBuffer();

/** Every file below `dir`, as paths relative to it. */
function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('legacy backend: section 2 and failure modes', () => {
  let legacy: RunningLegacy;
  let storageDir: string;

  beforeAll(async () => {
    storageDir = mkdtempSync(path.join(os.tmpdir(), 'legacy-store-'));
    legacy = await startLegacy({ storageDir, children: 2 });
  });
  afterAll(async () => {
    await legacy?.stop();
    rmSync(storageDir, { recursive: true, force: true });
  });

  const upload = async (file: Buffer | string | undefined, key?: string, filename = 'upload.bin') => {
    const form = new FormData();
    if (file !== undefined) form.append('file', new Blob([file]), filename);
    if (key !== undefined) form.append('key', key);
    const res = await fetch(`${legacy.url}/image/files`, { method: 'POST', body: form });
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
  };
  const batchDelete = async (body: unknown) => {
    const res = await fetch(`${legacy.url}/image/files`, {
      method: 'DELETE',
      headers: { 'Content-Type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  describe('health and routing', () => {
    it('answers GET /image/health with 200 {"status":"ok"}', async () => {
      const res = await fetch(`${legacy.url}/image/health`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ status: 'ok' });
    });

    it.each(['/', '/image', '/image/other', '/index.php', '/image/filesX/a.jpg', '/image/health/x'])('answers %s with a JSON 404', async (target) => {
      const res = await rawRequest(legacy.url, target);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'not_found' });
    });

    it.each([
      ['PUT', '/image/files', 'POST, DELETE'],
      ['GET', '/image/files', 'POST, DELETE'],
      ['POST', '/image/files/a.jpg', 'GET, HEAD'],
      ['DELETE', '/image/files/a.jpg', 'GET, HEAD'],
    ])('answers %s %s with a JSON 405 that names the methods', async (method, target, allow) => {
      const res = await rawRequest(legacy.url, target, { method });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'method_not_allowed' });
    });

    it('never shows a PHP error page or a stack trace, even for a target nginx itself refuses', async () => {
      const res = await rawRequest(legacy.url, '/image/files/../../../etc/passwd');
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'invalid_key' });
      expect(res.headers['x-powered-by']).toBeUndefined();
    });
  });

  it('answers 400 invalid_parameter for w=0100, w=+100, w=1e2, w= 100 and q=085 on the hot endpoint (canonical decimals only)', async () => {
    writeFileSync(path.join(storageDir, 'canon.jpg'), await jpeg());
    for (const query of ['w=0100', 'w=%2B100', 'w=1e2', 'w=%20100', 'q=085']) {
      const res = await fetch(`${legacy.url}/image/files/canon.jpg?${query}`);
      const body = (await res.json()) as { error: string; message: string };
      expect([query, res.status, body.error]).toEqual([query, 400, 'invalid_parameter']);
      expect(body.message).toContain('canonical decimal integer');
    }
    expect((await fetch(`${legacy.url}/image/files/canon.jpg?w=100`)).status).toBe(200);
  });

  it('refuses symlinks in the originals directory with 404 not_found, wherever they point (file, folder, inside or out)', async () => {
    const outside = mkdtempSync(path.join(os.tmpdir(), 'legacy-outside-'));
    chmodSync(outside, 0o755);
    writeFileSync(path.join(outside, 'secret.jpg'), await jpeg());
    mkdirSync(path.join(storageDir, 'realdir'), { recursive: true });
    writeFileSync(path.join(storageDir, 'realdir/a.jpg'), await jpeg());
    symlinkSync(path.join(outside, 'secret.jpg'), path.join(storageDir, 'link-out.jpg'));
    symlinkSync('realdir/a.jpg', path.join(storageDir, 'link-in.jpg'));
    symlinkSync(outside, path.join(storageDir, 'linkdir-out'));
    symlinkSync('realdir', path.join(storageDir, 'linkdir-in'));
    try {
      for (const key of ['link-out.jpg', 'link-in.jpg', 'linkdir-out/secret.jpg', 'linkdir-in/a.jpg']) {
        for (const query of ['', '?w=10']) {
          const res = await fetch(`${legacy.url}/image/files/${key}${query}`);
          expect([key + query, res.status, ((await res.json()) as { error: string }).error]).toEqual([key + query, 404, 'not_found']);
        }
      }
      expect((await fetch(`${legacy.url}/image/files/realdir/a.jpg?w=10`)).status).toBe(200);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  describe('POST /image/files', () => {
    it('stores an upload under the given key (201) and serves it on the hot endpoint', async () => {
      const bytes = await jpeg();
      const res = await upload(bytes, 'up/loaded.jpg');
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ key: 'up/loaded.jpg' });
      expect(readFileSync(path.join(storageDir, 'up/loaded.jpg')).equals(bytes)).toBe(true);
      const served = await fetch(`${legacy.url}/image/files/up/loaded.jpg?w=32`);
      expect(served.status).toBe(200);
      expect((await sharp(Buffer.from(await served.arrayBuffer())).metadata()).width).toBe(32);
    });

    it('makes up a key from the content when none is given', async () => {
      const res = await upload(await png());
      expect(res.status).toBe(201);
      expect(res.body.key).toMatch(/^[0-9a-f]{32}\.png$/);
      expect(existsSync(path.join(storageDir, res.body.key as string))).toBe(true);
    });

    it('replaces the original of an existing key', async () => {
      await upload(await jpeg(), 'replace-me.jpg');
      const second = await sharp({ create: { width: 10, height: 10, channels: 3, background: '#00ff00' } })
        .jpeg()
        .toBuffer();
      expect((await upload(second, 'replace-me.jpg')).status).toBe(201);
      expect(readFileSync(path.join(storageDir, 'replace-me.jpg')).equals(second)).toBe(true);
    });

    it.each([['../escape.jpg'], ['a//b.jpg'], ['/abs.jpg'], ['a b.jpg'], ['x/./y.jpg'], ['a'.repeat(513)]])(
      'refuses the key %j with 400 invalid_key and stores nothing',
      async (key) => {
        const before = listFiles(storageDir);
        const res = await upload(await jpeg(), key);
        expect(res.status).toBe(400);
        expect(res.body.error).toBe('invalid_key');
        expect(listFiles(storageDir)).toEqual(before);
      },
    );

    it.each([
      ['text', 'just some text'],
      ['SVG', '<svg xmlns="http://www.w3.org/2000/svg"/>'],
      ['a JPEG signature followed by junk', Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(500, 1)])],
    ])('refuses %s with 415 unsupported_image', async (_, file) => {
      const res = await upload(file, 'not-an-image.jpg');
      expect(res.status).toBe(415);
      expect(res.body.error).toBe('unsupported_image');
      expect(existsSync(path.join(storageDir, 'not-an-image.jpg'))).toBe(false);
    });

    it('refuses an image whose header claims over 50 megapixels with 413', async () => {
      const res = await upload(pngHeaderOnly(10_000, 6_000), 'huge.png');
      expect(res.status).toBe(413);
      expect(res.body.error).toBe('image_too_large');
    });

    it('refuses an upload over 50 MiB with 413 image_too_large', async () => {
      const big = Buffer.alloc(50 * 1024 * 1024 + 1024, 0);
      Buffer.from([0xff, 0xd8, 0xff, 0xe0]).copy(big);
      const res = await upload(big, 'too-big.jpg');
      expect(res.status).toBe(413);
      expect(res.body.error).toBe('image_too_large');
      expect(res.body.message).toContain('50 MiB');
    });

    it('refuses a body over nginx’s 64 MiB cap with a JSON 413 before reading it', async () => {
      const url = new URL(legacy.url);
      const res = await new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
        const req = http.request({
          host: url.hostname,
          port: url.port,
          path: '/image/files',
          method: 'POST',
          agent: false,
          headers: { 'Content-Type': 'multipart/form-data; boundary=x', 'Content-Length': String(70 * 1024 * 1024) },
        });
        req.on('response', (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => {
            resolve({ status: r.statusCode ?? 0, type: r.headers['content-type'], body });
            req.destroy();
          });
        });
        req.on('error', reject);
        req.flushHeaders(); // headers only: nginx answers on the Content-Length alone
      });
      expect(res.status).toBe(413);
      expect(res.type).toMatch(/^application\/json/);
      expect(JSON.parse(res.body)).toMatchObject({ error: 'image_too_large' });
    });

    it('refuses a request without a file field, or not multipart at all, with 400 naming the field', async () => {
      const noFile = await upload(undefined, 'x.jpg');
      expect(noFile.status).toBe(400);
      expect(noFile.body.error).toBe('invalid_parameter');
      expect(noFile.body.message).toContain('file');
      const json = await fetch(`${legacy.url}/image/files`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      expect(json.status).toBe(400);
    });

    it('leaves no temporary file behind, in the storage or in PHP’s upload directory', async () => {
      const files = listFiles(storageDir);
      expect(files.filter((f) => /(^|\/)\.upload-|\.tmp$/.test(f))).toEqual([]);
      expect(listFiles(path.join(legacy.runDir, 'tmp')).filter((f) => /^php/.test(path.basename(f)))).toEqual([]);
    });

    it('never lets a reader see a half-written original while a big upload replaces it', async () => {
      const first = await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#123456' } })
        .png({ compressionLevel: 0 })
        .toBuffer();
      const second = await sharp({ create: { width: 2000, height: 1500, channels: 3, background: '#654321' } })
        .png({ compressionLevel: 0 })
        .toBuffer();
      expect((await upload(first, 'atomic.png')).status).toBe(201);
      let done = false;
      const writer = upload(second, 'atomic.png').finally(() => (done = true));
      const seen = new Set<string>();
      for (let i = 0; i < 200 && !done; i++) {
        const res = await rawRequest(legacy.url, '/image/files/atomic.png');
        expect(res.status).toBe(200);
        const which = res.body.equals(first) ? 'first' : res.body.equals(second) ? 'second' : `other:${res.body.length}`;
        seen.add(which);
      }
      expect((await writer).status).toBe(201);
      expect([...seen].filter((s) => s.startsWith('other'))).toEqual([]);
      expect(readFileSync(path.join(storageDir, 'atomic.png')).equals(second)).toBe(true);
    });
  });

  describe('DELETE /image/files', () => {
    const put = (key: string) => {
      mkdirSync(path.dirname(path.join(storageDir, key)), { recursive: true });
      writeFileSync(path.join(storageDir, key), 'x');
      // Written here as root; the workers are not root, and delete it.
      legacy.adoptStorage();
    };

    it('deletes every key (200) and is idempotent', async () => {
      for (const k of ['del/a.jpg', 'del/b.png', 'c.webp']) put(k);
      const res = await batchDelete({ files: ['del/a.jpg', 'del/b.png', 'c.webp'] });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ succeeded_count: 3, succeeded_files: ['del/a.jpg', 'del/b.png', 'c.webp'], failed_count: 0, failed_files: [] });
      for (const k of ['del/a.jpg', 'del/b.png', 'c.webp']) expect(existsSync(path.join(storageDir, k))).toBe(false);
      const again = await batchDelete({ files: ['del/a.jpg', 'never-existed.jpg'] });
      expect(again.status).toBe(200);
      expect(again.body.succeeded_count).toBe(2);
    });

    it('answers 207 when some keys fail (invalid keys, a folder), and still deletes the rest', async () => {
      put('keep-going.jpg');
      mkdirSync(path.join(storageDir, 'a-folder'), { recursive: true });
      const res = await batchDelete({ files: ['keep-going.jpg', '../etc/passwd', '', 'a-folder', 'x//y.jpg'] });
      expect(res.status).toBe(207);
      expect(res.body).toEqual({
        succeeded_count: 1,
        succeeded_files: ['keep-going.jpg'],
        failed_count: 4,
        failed_files: ['../etc/passwd', '', 'a-folder', 'x//y.jpg'],
      });
      expect(existsSync(path.join(storageDir, 'keep-going.jpg'))).toBe(false);
      expect(existsSync(path.join(storageDir, 'a-folder'))).toBe(true);
    });

    it('takes exactly 100 keys', async () => {
      const keys = Array.from({ length: 100 }, (_, i) => `hundred/${i}.jpg`);
      for (const k of keys) put(k);
      const res = await batchDelete({ files: keys });
      expect(res.status).toBe(200);
      expect(res.body.succeeded_count).toBe(100);
    });

    it.each([
      ['101 keys', { files: Array.from({ length: 101 }, (_, i) => `${i}.jpg`) }, '100'],
      ['no keys', { files: [] }, '1 to 100'],
      ['no files field', { keys: ['a.jpg'] }, 'files'],
      ['files that is not a list', { files: 'a.jpg' }, 'files'],
      ['a key that is not a string', { files: ['a.jpg', 7] }, 'string'],
      ['a body that is not JSON', 'files=a.jpg', 'JSON'],
    ])('refuses %s with 400 invalid_parameter', async (_, body, mention) => {
      const res = await batchDelete(body);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_parameter');
      expect(res.body.message).toContain(mention);
    });
  });

  it('answers 404 not_found for a key segment longer than the file system allows (a valid key no original can have), as the new service’s file store does', async () => {
    for (const target of [`/image/files/${'a'.repeat(256)}.jpg?w=10`, `/image/files/${'a'.repeat(256)}.jpg`]) {
      const res = await rawRequest(legacy.url, target);
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'not_found' });
    }
    expect((await rawRequest(legacy.url, `/image/files/${'a'.repeat(251)}.jpg?w=10`)).status).toBe(404);
  });

  describe('limits that come from ImageMagick', () => {
    it("answers 413 image_too_large, not 500, for an original over ImageMagick's 16K-pixel policy cap", async () => {
      await sharp({ create: { width: 17_000, height: 10, channels: 3, background: '#000' } })
        .png()
        .toFile(path.join(storageDir, 'too-wide.png'));
      const res = await rawRequest(legacy.url, '/image/files/too-wide.png?w=100');
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'image_too_large' });
    });

    it('serves an original just under the pixel limit', async () => {
      // 7000x7000 = 49 MP: decoded for real, through ImageMagick's memory and disk caches.
      await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#808080' } })
        .png({ compressionLevel: 9 })
        .toFile(path.join(storageDir, 'just-under.png'));
      const res = await rawRequest(legacy.url, '/image/files/just-under.png?w=100');
      expect(res.status, res.body.toString().slice(0, 200)).toBe(200);
      expect((await sharp(res.body).metadata()).width).toBe(100);
    });
  });

  describe('processes', () => {
    it('lists PHP-FPM master and children and nginx master and worker, all alive', () => {
      const pids = legacy.pids();
      // FPM master + 2 children (pm = static) + nginx master + 1 worker.
      expect(pids.length).toBe(5);
      for (const pid of pids) expect(() => process.kill(pid, 0)).not.toThrow();
      const names = pids.map((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
      expect(names.filter((n) => n.startsWith('php-fpm')).length).toBe(3);
      expect(names.filter((n) => n === 'nginx').length).toBe(2);
    });

    it('answers a JSON 502 while PHP-FPM is down, and recovers when it is back', async () => {
      await legacy.stopFpm();
      try {
        for (const target of ['/image/health', '/image/files/anything.jpg?w=10']) {
          const res = await rawRequest(legacy.url, target);
          expect(res.status).toBe(502);
          expect(res.headers['content-type']).toMatch(/^application\/json/);
          expect(JSON.parse(res.body.toString())).toEqual({ error: 'internal', message: 'legacy backend unavailable' });
        }
      } finally {
        await legacy.startFpm();
      }
      expect((await fetch(`${legacy.url}/image/health`)).status).toBe(200);
    });

    it('logged no PHP warning, notice or error for anything above (they would be bugs)', () => {
      const logs = ['php-fpm.log', 'php-errors.log']
        .map((name) => path.join(legacy.runDir, 'log', name))
        .filter((file) => existsSync(file))
        .map((file) => readFileSync(file, 'utf8'))
        .join('\n');
      expect(logs.split('\n').filter((line) => /PHP (Warning|Notice|Deprecated|Fatal error|Parse error)/.test(line))).toEqual([]);
    });
  });
});

describe('legacy hardening: render time bound, PHP-FPM socket and users', () => {
  let legacy: RunningLegacy;
  let storageDir: string;
  const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  const nameOf = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

  beforeAll(async () => {
    storageDir = mkdtempSync(path.join(os.tmpdir(), 'legacy-hard-'));
    // Noise resamples slowly: far more than 100 ms of ImageMagick work.
    const noise = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .jpeg({ quality: 95 })
      .toBuffer();
    writeFileSync(path.join(storageDir, 'noise.jpg'), noise);
    writeFileSync(path.join(storageDir, 'small.jpg'), await jpeg());
    legacy = await startLegacy({ storageDir, children: 1, renderTimeoutMs: 100 });
  }, 120_000);
  afterAll(async () => {
    await legacy?.stop();
    rmSync(storageDir, { recursive: true, force: true });
  });

  it('a render past LEGACY_RENDER_TIMEOUT_MS answers 504 timeout, and the PHP-FPM child lives on', async () => {
    const before = legacy.pids();
    const res = await fetch(`${legacy.url}/image/files/noise.jpg?w=2900&format=png`);
    const body = (await res.json()) as { error: string; message: string };
    expect([res.status, body.error]).toEqual([504, 'timeout']);
    expect(body.message).toContain('render bound');
    expect((await fetch(`${legacy.url}/image/files/small.jpg?w=10`)).status).toBe(200);
    expect(legacy.pids()).toEqual(before);
  }, 60_000);

  it('the FastCGI socket is 0660, owned by the user legacy nginx workers run as, and no pool or nginx worker runs as root', () => {
    const socket = statSync(path.join(legacy.runDir, 'php-fpm.sock'));
    expect((socket.mode & 0o777).toString(8)).toBe('660');
    const pids = legacy.pids();
    const fpmWorkers = pids.filter((pid) => /php-fpm/.test(nameOf(pid)) && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('master'));
    const nginxWorkers = pids.filter((pid) => nameOf(pid) === 'nginx' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker'));
    expect(fpmWorkers.length).toBeGreaterThan(0);
    expect(nginxWorkers.length).toBeGreaterThan(0);
    for (const pid of [...fpmWorkers, ...nginxWorkers]) expect(uidOf(pid), `${nameOf(pid)} ${pid}`).not.toBe(0);
    // nginx's workers connect to the socket: its owner is their user (or its group theirs).
    const workerUid = uidOf(nginxWorkers[0]!);
    expect(socket.uid).toBe(workerUid);
  });

  it('uploads still work (the originals directory is writable by the pool user), and deletes too', async () => {
    const form = new FormData();
    form.append('file', new Blob([await jpeg()]), 'up.jpg');
    form.append('key', 'new/dir/up.jpg');
    const res = await fetch(`${legacy.url}/image/files`, { method: 'POST', body: form });
    expect(res.status).toBe(201);
    expect((await fetch(`${legacy.url}/image/files/new/dir/up.jpg?w=10`)).status).toBe(200);
    const del = await fetch(`${legacy.url}/image/files`, {
      method: 'DELETE',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ files: ['new/dir/up.jpg'] }),
    });
    expect(del.status).toBe(200);
  });
});

describe('legacy runner (stack/legacy.ts)', () => {
  it('stops every process it started and removes its own run directory', async () => {
    const storage = mkdtempSync(path.join(os.tmpdir(), 'legacy-store-'));
    const legacy = await startLegacy({ storageDir: storage, children: 1 });
    try {
      const pids = legacy.pids();
      expect(pids.length).toBe(4);
      await legacy.stop();
      for (const pid of pids) expect(() => process.kill(pid, 0), `pid ${pid}`).toThrow();
      expect(existsSync(legacy.runDir)).toBe(false);
    } finally {
      await legacy.stop();
      rmSync(storage, { recursive: true, force: true });
    }
  });

  it('keeps a run directory it was given, with the rendered configs and logs', async () => {
    const storage = mkdtempSync(path.join(os.tmpdir(), 'legacy-store-'));
    const runDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'legacy-parent-')), 'run');
    const legacy = await startLegacy({ storageDir: storage, runDir, children: 1 });
    try {
      expect(readFileSync(path.join(runDir, 'php-fpm.conf'), 'utf8')).toContain('pm.max_children = 1');
      expect(readFileSync(path.join(runDir, 'nginx.conf'), 'utf8')).not.toMatch(/^\s*fastcgi_keep_conn\s+on/m);
      await legacy.stop();
      expect(statSync(path.join(runDir, 'log')).isDirectory()).toBe(true);
    } finally {
      await legacy.stop();
      rmSync(path.dirname(runDir), { recursive: true, force: true });
      rmSync(storage, { recursive: true, force: true });
    }
  });

  it('renders the templates with every placeholder filled, and refuses values that would break them', () => {
    const values = {
      run_dir: '/tmp/run',
      legacy_dir: legacyDir,
      storage_dir: '/tmp/store',
      srgb_profile: '/tmp/run/srgb.icc',
      port: 8081,
      children: 3,
      max_input_bytes: 52428800,
      max_input_pixels: 50000000,
      instance: 'abc123',
      worker_user: 'www-data',
      worker_group: 'www-data',
      render_timeout_ms: 30000,
    };
    const asRoot = renderLegacyConfigs({ ...values, root: true });
    // Started as root, the workers still never run as root, and the socket is theirs, 0660.
    expect(asRoot.fpm).toContain('user = www-data\ngroup = www-data\nlisten.owner = www-data\nlisten.group = www-data');
    expect(asRoot.fpm).toMatch(/^listen\.mode = 0660$/m);
    expect(asRoot.fpm).not.toMatch(/^user = root/m);
    expect(asRoot.fpm).toContain('env[LEGACY_RENDER_TIMEOUT_MS] = 30000');
    expect(() => renderLegacyConfigs({ ...values, root: true, worker_user: 'root' })).toThrow(/must not run as root/);
    expect(asRoot.fpm).toContain('env[LEGACY_STORAGE_DIR] = "/tmp/store"');
    expect(asRoot.nginx).toContain('listen 127.0.0.1:8081;');
    expect(asRoot.nginx).toContain('user www-data www-data;');
    expect(asRoot.nginx).toContain('add_header X-Legacy-Instance abc123 always;');
    for (const text of [asRoot.fpm, asRoot.nginx]) expect(text).not.toMatch(/\{\{/);
    const asUser = renderLegacyConfigs({ ...values, root: false });
    expect(asUser.fpm).not.toMatch(/^user =/m);
    expect(asUser.nginx).not.toMatch(/^user /m);
    expect(() => renderTemplate('a {{missing}}', {})).toThrow(/missing/);
    expect(() => renderLegacyConfigs({ ...values, storage_dir: '/tmp/x";\nphp_admin_value[y] = z', root: true })).toThrow(/storage_dir/);
  });
});

describe('legacy PHP parsing and geometry = the new service’s (same inputs, same answers)', () => {
  type Case =
    | { fn: 'parseKey' | 'parseQuery'; raw: string }
    | { fn: 'plan'; w0: number; h0: number; w: number | null; h: number | null; fit: 'inside' | 'cover' }
    | { fn: 'jpegComplete'; base64: string };
  type Answer = { ok: true; value: unknown } | { ok: false; code: string; message: string };

  const runPhp = (cases: Case[]): Answer[] => {
    const out = execFileSync('php', [path.join(legacyDir, 'bin/pure.php')], {
      input: cases.map((c) => JSON.stringify(c)).join('\n'),
      maxBuffer: 64 * 1024 * 1024,
    });
    return out
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Answer);
  };
  const runTs = (c: Exclude<Case, { fn: 'jpegComplete' }>): Answer => {
    if (c.fn === 'plan') {
      const plan = planResize({ width: c.w0, height: c.h0 }, { width: c.w ?? undefined, height: c.h ?? undefined, fit: c.fit });
      return { ok: true, value: { width: plan.resize.width, height: plan.resize.height, crop: plan.crop ?? null } };
    }
    const r = c.fn === 'parseKey' ? parseKey(c.raw) : parseImageRequest(queryPairs(c.raw));
    if (!r.ok) return { ok: false, code: r.error.code, message: r.error.message };
    return { ok: true, value: c.fn === 'parseKey' ? r.value : canonicalVariant(r.value as Parameters<typeof canonicalVariant>[0]) };
  };
  const compare = (cases: Array<Exclude<Case, { fn: 'jpegComplete' }>>) => {
    const php = runPhp(cases);
    expect(php.length).toBe(cases.length);
    const mismatches = cases.map((c, i) => ({ c, php: php[i], ts: runTs(c) })).filter((m) => JSON.stringify(m.php) !== JSON.stringify(m.ts));
    expect(mismatches.slice(0, 5)).toEqual([]);
  };
  const pieces = (alphabet: string[], maxLength: number) => fc.array(fc.constantFrom(...alphabet), { maxLength }).map((a) => a.join(''));

  it('parses keys the same way', () => {
    const keys = fc.sample(
      pieces(
        ['a', 'Z', '9', '.', '..', '_', '-', '/', '//', '%2F', '%2e', '%2E%2e', '%25', '%', '%zz', '%C3%BC', '%00', ' ', '+', '%2B', ':', '\\', 'x.jpg'],
        12,
      ),
      { numRuns: 1500, seed: 42 },
    );
    const long = [511, 512, 513, 600].map((n) => 'k'.repeat(n));
    compare([...keys, ...long, '', '/', '/a'].map((raw) => ({ fn: 'parseKey' as const, raw })));
  });

  it('parses queries the same way', () => {
    const queries = fc.sample(
      pieces(
        [
          'w',
          'h',
          'q',
          'fit',
          'format',
          '=',
          '&',
          '&',
          '1',
          '0',
          '85',
          '4096',
          '4097',
          '100',
          '101',
          '-',
          '.',
          '+',
          '%20',
          'e3',
          'cover',
          'inside',
          'fill',
          'png',
          'jpeg',
          'webp',
          'gif',
          'x',
          'w%5B%5D',
        ],
        10,
      ),
      { numRuns: 2000, seed: 7 },
    );
    compare(queries.map((raw) => ({ fn: 'parseQuery' as const, raw })));
  });

  it('refuses non-canonical decimals (leading zero, sign, exponent, space) with 400 naming the parameter, as the new service does', () => {
    const cases = ['w=0100', 'w=%2B100', 'w=+100', 'w=1e2', 'w=%20100', 'h=007', 'q=085', 'w=100&q=085'].map((raw) => ({ fn: 'parseQuery' as const, raw }));
    const php = runPhp(cases);
    for (const [i, answer] of php.entries()) {
      expect(answer, cases[i]!.raw).toMatchObject({ ok: false, code: 'invalid_parameter' });
      expect((answer as { message: string }).message).toMatch(/^invalid parameter (w|h|q): expected a canonical decimal integer from 1 to (4096|100)/);
    }
    compare(cases);
  });

  it('plans the same sizes and crops, to the pixel', () => {
    const side = fc.oneof(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom(1, 2, 3, 599, 600, 601, 2999, 3000, 4096));
    const box = fc.option(fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(1, 2, 300, 301, 4096)), { nil: null });
    const cases = fc
      .sample(fc.record({ w0: side, h0: side, w: box, h: box, fit: fc.constantFrom('inside' as const, 'cover' as const) }), { numRuns: 5000, seed: 3 })
      .filter((c) => c.fit === 'inside' || (c.w !== null && c.h !== null))
      .map((c) => ({ fn: 'plan' as const, ...c }));
    compare(cases);
  });
});

describe('legacy JPEG truncation check (what Imagick 3.7 cannot tell us)', () => {
  it('finds every cut of a baseline and a progressive JPEG, and accepts whole files with trailing bytes', async () => {
    const source = sharp({ create: { width: 300, height: 200, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
    const files = [
      await source.clone().jpeg({ quality: 80 }).withMetadata({ orientation: 6 }).toBuffer(),
      await source.clone().jpeg({ quality: 80, progressive: true }).toBuffer(),
    ];
    const cases: Array<{ fn: 'jpegComplete'; base64: string; expected: boolean }> = [];
    for (const file of files) {
      for (let i = 1; i <= 60; i++)
        cases.push({ fn: 'jpegComplete', base64: file.subarray(0, Math.floor((file.length * i) / 61)).toString('base64'), expected: false });
      cases.push({ fn: 'jpegComplete', base64: file.subarray(0, file.length - 1).toString('base64'), expected: false });
      cases.push({ fn: 'jpegComplete', base64: file.toString('base64'), expected: true });
      cases.push({ fn: 'jpegComplete', base64: Buffer.concat([file, Buffer.from('trailing junk\xff\x00')]).toString('base64'), expected: true });
    }
    const out = execFileSync('php', [path.join(legacyDir, 'bin/pure.php')], {
      input: cases.map(({ expected: _, ...c }) => JSON.stringify(c)).join('\n'),
      maxBuffer: 64 * 1024 * 1024,
    });
    const answers = out
      .toString()
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { value: boolean }).value);
    expect(answers).toEqual(cases.map((c) => c.expected));
  });
});
