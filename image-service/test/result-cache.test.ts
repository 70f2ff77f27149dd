/**
 * The result cache inside the service, through app.request() on a real directory store: repeat
 * requests are answered without a render, a replaced original is never answered from the cache,
 * a deleted one answers the same 404 as without it, and a stampede renders each variant once.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { FsSourceStore } from '../src/storage/index.ts';
import { buildCachedHarness, buildHarness, until } from './harness.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'service-cache-'));
  dirs.push(d);
  return d;
}

/** A flat-colour JPEG: its colour tells which original an answer was rendered from. */
const solid = (r: number, g: number, b: number, width = 400, height = 300) =>
  sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .jpeg({ quality: 90 })
    .toBuffer();
const centre = async (body: ArrayBuffer) => {
  const { data } = await sharp(Buffer.from(body)).resize(1, 1).raw().toBuffer({ resolveWithObject: true });
  return [...data];
};
const MB = 1024 * 1024;

describe('result cache (RESULT_CACHE_MB) in the service', () => {
  it('answers a repeat request from memory, with the same bytes and headers and no second render', async () => {
    const root = tmp();
    writeFileSync(path.join(root, 'a.jpg'), await solid(200, 30, 30));
    const h = await buildCachedHarness(new FsSourceStore(root), { memoryBytes: 8 * MB });
    const first = await h.app.request('/image/files/a.jpg?w=120');
    const second = await h.app.request('/image/files/a.jpg?w=120&q=85'); // the same canonical variant
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(Buffer.from(await second.arrayBuffer()).equals(Buffer.from(await first.arrayBuffer()))).toBe(true);
    for (const name of ['etag', 'content-type', 'content-length', 'last-modified', 'cache-control']) {
      expect(second.headers.get(name)).toBe(first.headers.get(name));
    }
    // Not public: clients see the same answer either way.
    expect(second.headers.get('x-cache')).toBeNull();
    expect(await h.metric('image_resizes_total')).toBe(1);
    expect(await h.metric('image_result_cache_hits_total')).toBe(1);
    expect(await h.metric('image_result_cache_misses_total')).toBe(1);
    // HEAD and revalidation are answered from the same version.
    expect((await h.app.request('/image/files/a.jpg?w=120', { method: 'HEAD' })).headers.get('etag')).toBe(first.headers.get('etag'));
    expect((await h.app.request('/image/files/a.jpg?w=120', { headers: { 'if-none-match': first.headers.get('etag')! } })).status).toBe(304);
    expect(await h.metric('image_resizes_total')).toBe(1);
    expect(await (await h.admin.request('/metrics')).text()).toMatch(/image_result_cache_bytes\{tier="memory"\} [1-9]/);
  });

  it('never answers a replaced original from the cache: the next request renders the new one', async () => {
    const root = tmp();
    const file = path.join(root, 'a.jpg');
    writeFileSync(file, await solid(200, 30, 30));
    const h = await buildCachedHarness(new FsSourceStore(root), { memoryBytes: 8 * MB });
    const red = await h.app.request('/image/files/a.jpg?w=100');
    expect((await centre(await red.arrayBuffer()))[0]).toBeGreaterThan(150);
    // Replaced in place (same inode), with other bytes: the version follows size and mtime.
    writeFileSync(file, await solid(30, 30, 200, 400, 301));
    const blue = await h.app.request('/image/files/a.jpg?w=100');
    expect(blue.status).toBe(200);
    const [r, , b] = await centre(await blue.arrayBuffer());
    expect([r! < 100, b! > 150]).toEqual([true, true]);
    expect(blue.headers.get('etag')).not.toBe(red.headers.get('etag'));
    expect(await h.metric('image_resizes_total')).toBe(2);
    expect(await h.metric('image_result_cache_invalidations_total')).toBe(1);
  });

  it('a deleted original answers the same 404 as without the cache, and its entries are dropped', async () => {
    const root = tmp();
    writeFileSync(path.join(root, 'a.jpg'), await solid(200, 30, 30));
    const cached = await buildCachedHarness(new FsSourceStore(root), { memoryBytes: 8 * MB });
    const plain = buildHarness(new FsSourceStore(root));
    expect((await cached.app.request('/image/files/a.jpg?w=100')).status).toBe(200);
    unlinkSync(path.join(root, 'a.jpg'));
    const withCache = await cached.app.request('/image/files/a.jpg?w=100');
    const without = await plain.app.request('/image/files/a.jpg?w=100');
    expect(withCache.status).toBe(404);
    expect(await withCache.json()).toEqual(await without.json());
    expect(cached.cache.bytes.memory).toBe(0);
  });

  it('stampede: 1000 requests for 50 variants render each variant once (coalesced in flight, then from the cache), and all succeed', async () => {
    const root = tmp();
    writeFileSync(path.join(root, 'a.jpg'), await solid(90, 160, 40, 640, 480));
    // 50 distinct flights must fit the queue (a smaller one sheds, which is the limiter's job, not the cache's).
    const h = await buildCachedHarness(new FsSourceStore(root), { memoryBytes: 32 * MB }, { concurrency: 2, queueLimit: 64, lookahead: 2 });
    const widths = Array.from({ length: 50 }, (_, i) => 40 + i);
    const wave = () => Promise.all(Array.from({ length: 500 }, (_, i) => h.app.request(`/image/files/a.jpg?w=${widths[i % 50]}`)));
    // The first 500 arrive together: the 450 repeats join the 50 renders in flight (coalescing).
    const first = await wave();
    expect(await h.metric('image_resizes_total')).toBe(50);
    expect(await h.metric('image_coalesced_requests_total')).toBe(450);
    // The next 500 come once those are done: every one is a cache hit, nothing renders again.
    const second = await wave();
    expect([...first, ...second].filter((r) => r.status !== 200).map((r) => r.status)).toEqual([]);
    expect(await h.metric('image_resizes_total')).toBe(50);
    expect(await h.metric('image_result_cache_hits_total')).toBe(500);
    const widthsSeen = await Promise.all(second.slice(0, 50).map(async (r) => (await sharp(Buffer.from(await r.arrayBuffer())).metadata()).width));
    expect(widthsSeen).toEqual(widths);
  });

  it('with a disk tier, a variant memory evicted is answered from disk, not rendered again', async () => {
    const root = tmp();
    // Noise: variants of a known, large size (~100 kB at w=500).
    const noise = sharp({ create: { width: 800, height: 600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 50 } } });
    writeFileSync(path.join(root, 'a.jpg'), await noise.jpeg({ quality: 90 }).toBuffer());
    // A memory tier too small for both variants: the second evicts the first.
    const h = await buildCachedHarness(new FsSourceStore(root), { memoryBytes: 150_000, disk: { dir: tmp(), bytes: 8 * MB } });
    const first = Buffer.from(await (await h.app.request('/image/files/a.jpg?w=500')).arrayBuffer());
    expect(first.length).toBeGreaterThan(76_000);
    expect(first.length).toBeLessThan(149_000);
    await until(() => h.cache.bytes.disk > first.length, 'the first variant is on disk');
    expect((await h.app.request('/image/files/a.jpg?w=510')).status).toBe(200);
    expect(await h.metric('image_result_cache_evictions_total')).toBe(1);
    const again = Buffer.from(await (await h.app.request('/image/files/a.jpg?w=500')).arrayBuffer());
    expect(again.equals(first)).toBe(true);
    expect(await h.metric('image_resizes_total')).toBe(2);
    const metrics = await (await h.admin.request('/metrics')).text();
    expect(metrics).toContain('image_result_cache_hits_total{tier="disk"} 1');
  });
});
