/**
 * The result cache on its own (memory and disk tiers in a temp directory), with real metrics:
 * versions, budgets, and what the disk tier leaves behind.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ResultCache, type CachedVariant } from '../../src/cache/index.ts';
import { diskName, resultKey } from '../../src/cache/key.ts';
import { createMetrics } from '../../src/metrics.ts';
import { until } from '../harness.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'result-cache-'));
  dirs.push(d);
  return d;
};

const variant = (fill: number, bytes = 1000): CachedVariant => ({
  body: Buffer.alloc(bytes, fill),
  contentType: 'image/jpeg',
  etag: `"e${fill}"`,
  lastModified: new Date('2026-01-02T03:04:05Z'),
});

async function counters(metrics: ReturnType<typeof createMetrics>) {
  const read = async (name: string, labels: Record<string, string> = {}) => {
    const m = await metrics.registry.getSingleMetric(name)?.get();
    return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0);
  };
  return {
    memoryHits: await read('image_result_cache_hits_total', { tier: 'memory' }),
    diskHits: await read('image_result_cache_hits_total', { tier: 'disk' }),
    misses: await read('image_result_cache_misses_total'),
    memoryEvictions: await read('image_result_cache_evictions_total', { tier: 'memory' }),
    invalidations: await read('image_result_cache_invalidations_total'),
  };
}

describe('ResultCache', () => {
  it('answers only the version a variant was rendered from; a new version drops the old entries at once', async () => {
    const metrics = createMetrics();
    const cache = await ResultCache.create({ memoryBytes: 1 << 20, metrics: metrics.resultCache });
    cache.set('a.jpg', 'v1', 'w=300', variant(1));
    cache.set('a.jpg', 'v1', 'w=640', variant(2));
    expect((await cache.get('a.jpg', 'v1', 'w=300'))?.etag).toBe('"e1"');
    expect(await cache.get('a.jpg', 'v2', 'w=300')).toBeUndefined(); // the original was replaced
    cache.observe('a.jpg', 'v2');
    expect(await cache.get('a.jpg', 'v1', 'w=640')).toBeUndefined(); // dropped, not just unreachable
    expect(cache.bytes.memory).toBe(0);
    expect(await counters(metrics)).toMatchObject({ memoryHits: 1, misses: 2, invalidations: 2 });
  });

  it('a deleted original (observed as gone) drops every entry of it, and only of it', async () => {
    const metrics = createMetrics();
    const cache = await ResultCache.create({ memoryBytes: 1 << 20, metrics: metrics.resultCache });
    cache.set('gone.jpg', 'v1', 'w=300', variant(1));
    cache.set('kept.jpg', 'v1', 'w=300', variant(2));
    cache.observe('gone.jpg', undefined);
    expect(await cache.get('gone.jpg', 'v1', 'w=300')).toBeUndefined();
    expect((await cache.get('kept.jpg', 'v1', 'w=300'))?.etag).toBe('"e2"');
  });

  it('keeps the memory tier within its byte budget, evicting the least recently used', async () => {
    const metrics = createMetrics();
    // Room for two 10 kB variants with their overhead, not three.
    const cache = await ResultCache.create({ memoryBytes: 25_000, metrics: metrics.resultCache });
    cache.set('a.jpg', 'v', 'w=1', variant(1, 10_000));
    cache.set('b.jpg', 'v', 'w=1', variant(2, 10_000));
    await cache.get('a.jpg', 'v', 'w=1');
    cache.set('c.jpg', 'v', 'w=1', variant(3, 10_000));
    expect(cache.bytes.memory).toBeLessThanOrEqual(25_000);
    expect(await cache.get('b.jpg', 'v', 'w=1')).toBeUndefined();
    expect(await cache.get('a.jpg', 'v', 'w=1')).toBeDefined();
    expect(await cache.get('c.jpg', 'v', 'w=1')).toBeDefined();
    expect((await counters(metrics)).memoryEvictions).toBe(1);
  });

  it('the disk tier answers what memory evicted, and loses it with its version', async () => {
    const dir = tmp();
    const metrics = createMetrics();
    const cache = await ResultCache.create({ memoryBytes: 12_000, disk: { dir, bytes: 1 << 20 }, metrics: metrics.resultCache });
    cache.set('a.jpg', 'v1', 'w=1', variant(1, 10_000));
    await until(() => cache.bytes.disk > 0, 'the first variant is written to disk');
    cache.set('b.jpg', 'v1', 'w=1', variant(2, 10_000)); // evicts a from memory
    const fromDisk = await cache.get('a.jpg', 'v1', 'w=1');
    expect(fromDisk?.body.equals(variant(1, 10_000).body)).toBe(true);
    expect(fromDisk?.lastModified.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(await counters(metrics)).toMatchObject({ diskHits: 1 });
    cache.observe('a.jpg', 'v2');
    expect(await cache.get('a.jpg', 'v1', 'w=1')).toBeUndefined();
    await until(() => !readdirSync(dir).includes(diskName(resultKey('a.jpg', 'v1', 'w=1'))), 'the old version leaves the disk');
  });

  it('at start, removes the entries an earlier process left in its directory, and nothing else', async () => {
    const dir = tmp();
    const leftover = diskName(resultKey('a.jpg', 'v1', 'w=1'));
    writeFileSync(path.join(dir, leftover), 'stale');
    writeFileSync(path.join(dir, `${leftover}.123.tmp`), 'half written');
    writeFileSync(path.join(dir, 'notes.txt'), 'not ours');
    const cache = await ResultCache.create({ memoryBytes: 1 << 20, disk: { dir, bytes: 1 << 20 }, metrics: createMetrics().resultCache });
    expect(readdirSync(dir)).toEqual(['notes.txt']);
    expect(await cache.get('a.jpg', 'v1', 'w=1')).toBeUndefined();
  });
});
