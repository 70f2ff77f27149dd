import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateImages } from '../../../support/fixtures.ts';
import { FsSourceStore } from '../../src/storage/index.ts';
import { buildHarness, type Harness } from '../harness.ts';

let root: string;
let h: Harness;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'app-test-'));
  await generateImages(root);
  mkdirSync(path.join(root, 'dir/sub'), { recursive: true });
  writeFileSync(path.join(root, 'dir/sub/photo.jpg'), readFileSync(path.join(root, 'gen-photo-1920x1280.jpg')));
  writeFileSync(path.join(root, 'notes.txt'), 'plain text, not an image');
  h = buildHarness(new FsSourceStore(root));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const get = (target: string, init: RequestInit = {}) => h.app.request(target, init);
/** A request whose raw target reaches the app unnormalised, as @hono/node-server hands it over. */
const raw = (target: string, init: RequestInit = {}) => h.app.request(target.replace(/\.\.|%2e/gi, 'x'), init, { incoming: { url: target } });

async function expectJsonError(res: Response, status: number, code: string, ...mentions: string[]) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: string; message: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(code);
  for (const m of mentions) expect(body.message).toContain(m);
  expect(body.message).not.toMatch(/\n\s+at /); // never a stack trace
  return body;
}

describe('GET /image/files/{key} with a resize', () => {
  it('answers 200 with the image and every contract header', async () => {
    const res = await get('/image/files/gen-photo-2999x2001.jpg?w=300');
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    const meta = await sharp(body).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 300, 200]);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('content-length')).toBe(String(body.length));
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000');
    expect(res.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{16,}"$/);
    const mtime = statSync(path.join(root, 'gen-photo-2999x2001.jpg')).mtime;
    expect(res.headers.get('last-modified')).toBe(mtime.toUTCString());
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['gen-photo-1001x667.webp?w=200&h=200&fit=cover', 'image/webp', 200, 200],
    ['gen-photo-777x555.png?h=77', 'image/png', 108, 77],
    ['gen-photo-777x555.png?w=100&format=webp&q=50', 'image/webp', 100, 71],
    ['gen-anim.gif?w=60', 'image/png', 60, 45],
    ['dir/sub/photo.jpg?w=640', 'image/jpeg', 640, 427],
    ['dir%2Fsub%2Fphoto.jpg?w=640', 'image/jpeg', 640, 427],
  ])('%s: %s %ix%i', async (target, type, width, height) => {
    const res = await get(`/image/files/${target}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([width, height]);
  });

  it('keeps an ETag stable for the same variant, whatever the parameter order, and distinct across variants', async () => {
    const a = (await get('/image/files/gen-photo-777x555.png?w=100&q=85')).headers.get('etag');
    const b = (await get('/image/files/gen-photo-777x555.png?utm=x&fit=inside&w=100')).headers.get('etag');
    const c = (await get('/image/files/gen-photo-777x555.png?w=101')).headers.get('etag');
    const d = (await get('/image/files/gen-photo-777x555.png?w=100&format=webp')).headers.get('etag');
    expect(a).toBe(b);
    expect(new Set([a, c, d]).size).toBe(3);
  });

  it('changes the ETag and Last-Modified when the original changes', async () => {
    const file = path.join(root, 'changing.png');
    writeFileSync(file, readFileSync(path.join(root, 'gen-photo-777x555.png')));
    utimesSync(file, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
    const before = await get('/image/files/changing.png?w=50');
    writeFileSync(file, readFileSync(path.join(root, 'gen-alpha-640x480.png')));
    utimesSync(file, new Date('2021-01-01T00:00:00Z'), new Date('2021-01-01T00:00:00Z'));
    const after = await get('/image/files/changing.png?w=50');
    expect(before.headers.get('last-modified')).toBe('Wed, 01 Jan 2020 00:00:00 GMT');
    expect(after.headers.get('last-modified')).toBe('Fri, 01 Jan 2021 00:00:00 GMT');
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
  });
});

describe('GET /image/files/{key} without parameters: the original bytes', () => {
  it('sends the stored bytes unchanged with the type read from them', async () => {
    const res = await get('/image/files/gen-photo-1001x667.webp');
    const bytes = readFileSync(path.join(root, 'gen-photo-1001x667.webp'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000');
    expect(res.headers.get('etag')).toMatch(/^"/);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('unknown parameters alone still mean the original', async () => {
    const res = await get('/image/files/gen-photo-777x555.png?v=3&utm_source=mail');
    expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(path.join(root, 'gen-photo-777x555.png')))).toBe(true);
  });

  it('serves a file that is not an image as application/octet-stream, untouched', async () => {
    const res = await get('/image/files/notes.txt');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(await res.text()).toBe('plain text, not an image');
  });
});

describe('HEAD', () => {
  it.each(['gen-photo-2999x2001.jpg?w=300', 'gen-photo-2999x2001.jpg'])('%s: the same headers as GET and no body', async (target) => {
    const g = await get(`/image/files/${target}`);
    const gBody = Buffer.from(await g.arrayBuffer());
    const head = await get(`/image/files/${target}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    for (const name of ['content-type', 'content-length', 'cache-control', 'etag', 'last-modified']) {
      expect(head.headers.get(name), name).toBe(g.headers.get(name));
    }
    expect(head.headers.get('content-length')).toBe(String(gBody.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('an error is the same status and JSON type', async () => {
    const head = await get('/image/files/missing.jpg?w=10', { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(head.headers.get('content-type')).toMatch(/^application\/json/);
  });
});

describe('If-None-Match', () => {
  it.each(['gen-photo-777x555.png?w=120', 'gen-photo-777x555.png'])('%s: 304 with no body when it matches', async (target) => {
    const first = await get(`/image/files/${target}`);
    const etag = first.headers.get('etag')!;
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await get(`/image/files/${target}`, { headers: { 'If-None-Match': header } });
      expect(res.status, header).toBe(304);
      expect(res.headers.get('etag')).toBe(etag);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000');
      expect(res.headers.get('content-type')).toBeNull();
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    }
  });

  it('answers 200 when it does not match, and 304 for HEAD too', async () => {
    const target = '/image/files/gen-photo-777x555.png?w=130';
    const res = await get(target, { headers: { 'If-None-Match': '"stale"' } });
    expect(res.status).toBe(200);
    const etag = res.headers.get('etag')!;
    expect((await get(target, { method: 'HEAD', headers: { 'If-None-Match': etag } })).status).toBe(304);
  });

  it('a 304 does not resize', async () => {
    const target = '/image/files/gen-photo-777x555.png?w=140';
    const etag = (await get(target)).headers.get('etag')!;
    const resizes = await h.metric('image_resizes_total');
    expect((await get(target, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect(await h.metric('image_resizes_total')).toBe(resizes);
  });
});

describe('errors: JSON with a code and a message that says what was expected', () => {
  it.each([
    ['/image/files/a%20b.jpg', 'invalid_key', 'expected 1 to 512 characters'],
    ['/image/files/', 'invalid_key', 'empty'],
    ['/image/files//a.jpg', 'invalid_key', 'starts with /'],
    ['/image/files/a%ZZ.jpg', 'invalid_key', 'percent-encoding'],
  ])('%s: 400 %s', async (target, code, mention) => {
    await expectJsonError(await get(target), 400, code, mention);
  });

  it.each([
    ['/image/files/a/../b.jpg?w=10', "'..' segment"],
    ['/image/files/%2e%2e/b.jpg', "'..' segment"],
    ['/image/files/./b.jpg', "'.' segment"],
  ])('dot segments in the raw target are refused, not resolved: %s', async (target, mention) => {
    await expectJsonError(await raw(target), 400, 'invalid_key', mention);
  });

  it.each([
    ['w=0', 'w', 'integer from 1 to 4096'],
    ['w=5000', 'w', 'integer from 1 to 4096'],
    ['h=x', 'h', 'integer from 1 to 4096'],
    ['q=0', 'q', 'integer from 1 to 100'],
    ['fit=fill', 'fit', "'inside' or 'cover'"],
    ['fit=cover&w=10', 'fit', 'both w and h'],
    ['format=tiff', 'format', "'jpeg', 'png' or 'webp'"],
    ['w=1&w=2', 'w', 'at most one value'],
  ])('?%s: 400 invalid_parameter naming %s', async (query, name, expected) => {
    await expectJsonError(await get(`/image/files/gen-photo-777x555.png?${query}`), 400, 'invalid_parameter', `invalid parameter ${name}`, expected);
  });

  it('checks parameters before looking for the original', async () => {
    await expectJsonError(await get('/image/files/missing.jpg?w=0'), 400, 'invalid_parameter', 'w');
  });

  it('404 not_found for a missing original, resized or not', async () => {
    await expectJsonError(await get('/image/files/missing/photo.jpg?w=10'), 404, 'not_found', 'missing/photo.jpg');
    await expectJsonError(await get('/image/files/missing.jpg'), 404, 'not_found');
    await expectJsonError(await get('/image/files/dir?w=10'), 404, 'not_found');
  });

  it('415 unsupported_image for a truncated JPEG and for a file that is not an image', async () => {
    await expectJsonError(await get('/image/files/gen-truncated.jpg?w=100'), 415, 'unsupported_image', 'JPEG, PNG, WebP or GIF');
    await expectJsonError(await get('/image/files/notes.txt?w=100'), 415, 'unsupported_image');
  });

  it('413 image_too_large for an original over the byte limit, before reading it', async () => {
    const small = buildHarness(new FsSourceStore(root), { service: { maxInputBytes: 1000 } });
    const res = await small.app.request('/image/files/gen-photo-777x555.png?w=10');
    await expectJsonError(res, 413, 'image_too_large', 'MiB');
    expect(await small.metric('image_resizes_total')).toBe(0);
    await expectJsonError(await small.app.request('/image/files/gen-photo-777x555.png'), 413, 'image_too_large');
  });

  it('405 for other methods on the hot path (uploads and deletes stay on the legacy backend)', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      await expectJsonError(await get('/image/files/a.jpg', { method }), 405, 'method_not_allowed', 'GET or HEAD');
    }
  });

  it('404 JSON for any other path', async () => {
    await expectJsonError(await get('/nothing/here'), 404, 'not_found', '/nothing/here');
    await expectJsonError(await get('/image/files'), 404, 'not_found');
  });
});

describe('request ids', () => {
  it('echoes a well-formed X-Request-Id and replaces anything else', async () => {
    expect((await get('/nothing', { headers: { 'X-Request-Id': 'abc-123.x' } })).headers.get('x-request-id')).toBe('abc-123.x');
    const odd = await get('/nothing', { headers: { 'X-Request-Id': 'a b <script>' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('/healthz, /readyz, /metrics: on the admin listener only', () => {
  it.each(['/healthz', '/readyz', '/metrics', '/metrics?x=1'])('the public app answers %s with the JSON 404', async (target) => {
    await expectJsonError(await get(target), 404, 'not_found', 'no route');
    await expectJsonError(await h.admin.request('/image/files/gen-photo-777x555.png?w=10'), 404, 'not_found', 'no route');
  });

  it('/healthz: 200 alive', async () => {
    const res = await h.admin.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', pid: process.pid });
  });

  it('/readyz: 200 when storage is reachable', async () => {
    const res = await h.admin.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', storage: `file://${root}` });
  });

  it('/readyz: 503 when storage is not reachable', async () => {
    const gone = buildHarness(new FsSourceStore(path.join(root, 'no-such-dir')));
    const res = await gone.admin.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'not_ready', error: 'storage_unavailable' });
  });

  it('/readyz: 503 once shutdown has begun, and answers close their connection', async () => {
    const s = buildHarness(new FsSourceStore(root));
    expect((await s.admin.request('/healthz')).headers.get('connection')).toBeNull();
    s.shuttingDown.value = true;
    const res = await s.admin.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'shutting_down' });
    expect(res.headers.get('connection')).toBe('close');
    expect((await s.app.request('/image/files/gen-photo-777x555.png?w=10')).headers.get('connection')).toBe('close');
  });

  it('/metrics: Prometheus text with requests by route and status, latency, queue, in-flight, coalescing and fetch time', async () => {
    const m = buildHarness(new FsSourceStore(root));
    await m.app.request('/image/files/gen-photo-777x555.png?w=10');
    await m.app.request('/image/files/gen-photo-777x555.png?w=0');
    await m.app.request('/image/files/missing.jpg?w=10');
    const res = await m.admin.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('image_http_requests_total{route="image",method="GET",status="200"} 1');
    expect(text).toContain('image_http_requests_total{route="image",method="GET",status="400"} 1');
    expect(text).toContain('image_http_requests_total{route="image",method="GET",status="404"} 1');
    expect(text).toMatch(/image_http_request_duration_seconds_bucket\{le="0\.005",route="image",status="200"\} \d/);
    expect(text).toContain('image_http_request_duration_seconds_count{route="image",status="200"} 1');
    expect(text).toContain('image_resize_queue_depth 0');
    expect(text).toContain('image_resizes_in_flight 0');
    expect(text).toContain('image_resizes_total 1');
    expect(text).toContain('image_coalesced_requests_total 0');
    expect(text).toContain('image_source_fetch_seconds_count{outcome="ok"} 1');
  });
});
