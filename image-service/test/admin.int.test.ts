/**
 * The real process (stack/services.ts): /metrics, /readyz and /healthz answer on the admin
 * listener only, and the public port serves the hot endpoint and the JSON 404; a render past
 * RENDER_TIMEOUT_MS is stopped by libvips and answered 504 timeout.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImageService, type RunningService } from '../../stack/services.ts';

let root: string;
let service: RunningService | undefined;
let outside: string;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'admin-int-'));
  writeFileSync(
    path.join(root, 'small.png'),
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#336699' } })
      .png()
      .toBuffer(),
  );
  // Noise compresses badly and resamples slowly: ~45 MP that take well over a second to render as a PNG.
  const noise = await sharp({ create: { width: 7800, height: 5800, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .jpeg({ quality: 95 })
    .toBuffer();
  writeFileSync(path.join(root, 'huge.jpg'), noise);
  outside = mkdtempSync(path.join(os.tmpdir(), 'admin-int-outside-'));
  writeFileSync(
    path.join(outside, 'secret.png'),
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
      .png()
      .toBuffer(),
  );
  symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'link-out.png'));
  symlinkSync('small.png', path.join(root, 'link-in.png'));
  symlinkSync(outside, path.join(root, 'linkdir'));
  // One second of processing at most (libvips' timeout counts whole seconds); the request itself may wait much longer.
  service = await startImageService({ STORAGE_URL: pathToFileURL(root).href, RENDER_TIMEOUT_MS: '300', REQUEST_TIMEOUT_MS: '120000' });
}, 120_000);
afterAll(async () => {
  await service?.stop();
  rmSync(root, { recursive: true, force: true });
  if (outside) rmSync(outside, { recursive: true, force: true });
});

describe('admin listener', () => {
  it.each(['/metrics', '/readyz', '/healthz'])('%s: the JSON 404 on the public port, 200 on the admin port', async (p) => {
    const pub = await fetch(`${service!.url}${p}`);
    expect(pub.status).toBe(404);
    expect(pub.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await pub.json()).toMatchObject({ error: 'not_found' });
    const admin = await fetch(`${service!.adminUrl}${p}`);
    expect(admin.status).toBe(200);
    await admin.arrayBuffer();
  });

  it('serves images on the public port only', async () => {
    expect((await fetch(`${service!.url}/image/files/small.png?w=10`)).status).toBe(200);
    expect((await fetch(`${service!.adminUrl}/image/files/small.png?w=10`)).status).toBe(404);
    const text = await (await fetch(`${service!.adminUrl}/metrics`)).text();
    expect(text).toContain('image_http_requests_total{route="image",method="GET",status="200"} 1');
  });
});

describe('symlinks in the originals directory', () => {
  it.each(['link-out.png', 'link-in.png', 'linkdir/secret.png'])('%s: 404 not_found for downloads, HEAD and resizes', async (key) => {
    for (const [query, method] of [
      ['', 'GET'],
      ['', 'HEAD'],
      ['?w=4', 'GET'],
    ] as const) {
      const res = await fetch(`${service!.url}/image/files/${key}${query}`, { method });
      expect([key, query, method, res.status]).toEqual([key, query, method, 404]);
      await res.arrayBuffer();
    }
  });
});

describe('render bound (RENDER_TIMEOUT_MS)', () => {
  it('a render past the bound is stopped and answered 504 timeout, and the service keeps serving', async () => {
    const res = await fetch(`${service!.url}/image/files/huge.jpg?w=4000&format=png`);
    const body = (await res.json()) as { error: string; message: string };
    expect([res.status, body.error]).toEqual([504, 'timeout']);
    expect(body.message).toContain('render bound');
    expect((await fetch(`${service!.url}/image/files/small.png?w=12`)).status).toBe(200);
  }, 60_000);
});
