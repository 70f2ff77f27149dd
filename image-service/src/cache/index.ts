/**
 * The result cache: rendered variants kept for repeat traffic, in memory within a byte budget
 * (RESULT_CACHE_MB) and optionally on disk (RESULT_CACHE_DIR, RESULT_CACHE_DISK_MB). Off by default.
 *
 * Never stale: entries are keyed by the original's version (key.ts), and the service stats the
 * original on every request before it looks here (a stat or HEAD costs far less than a render), so
 * a replaced original misses and a deleted one answers 404 as it would without the cache. The
 * per-original index only lets the memory of old versions go at once instead of by age.
 */
import type { Counter } from 'prom-client';
import { DiskTier } from './disk.ts';
import { originalOf, resultKey } from './key.ts';
import { ByteLru } from './lru.ts';
import type { CachedVariant } from './types.ts';

export type { CachedVariant } from './types.ts';

/** What an entry costs besides its bytes (key, headers, Map and object overhead), roughly. */
const ENTRY_OVERHEAD_BYTES = 512;

export interface ResultCacheMetrics {
  hits: Counter<'tier'>;
  misses: Counter;
  evictions: Counter<'tier'>;
  invalidations: Counter;
}

export interface ResultCacheOptions {
  /** Memory tier budget in bytes (> 0). */
  memoryBytes: number;
  /** Optional disk tier. */
  disk?: { dir: string; bytes: number };
  metrics: ResultCacheMetrics;
}

export class ResultCache {
  readonly #memory: ByteLru<{ original: string; value: CachedVariant }>;
  readonly #disk: DiskTier | undefined;
  readonly #metrics: ResultCacheMetrics;
  /** Original key -> the version its entries were rendered from, and their cache keys (either tier). */
  readonly #byOriginal = new Map<string, { version: string; keys: Set<string> }>();

  private constructor(options: ResultCacheOptions, disk: DiskTier | undefined) {
    this.#metrics = options.metrics;
    this.#disk = disk;
    this.#memory = new ByteLru(options.memoryBytes, (cacheKey, e) => {
      this.#metrics.evictions.inc({ tier: 'memory' });
      if (!this.#disk?.has(cacheKey)) this.#unindex(e.original, cacheKey);
    });
  }

  static async create(options: ResultCacheOptions): Promise<ResultCache> {
    // The disk tier reports evictions to the cache, which does not exist yet when the tier opens.
    const created: { cache?: ResultCache } = {};
    const onDiskEvict = (cacheKey: string) => {
      options.metrics.evictions.inc({ tier: 'disk' });
      if (created.cache) created.cache.#evictedFromDisk(cacheKey);
    };
    const disk = options.disk ? await DiskTier.open(options.disk.dir, options.disk.bytes, onDiskEvict) : undefined;
    created.cache = new ResultCache(options, disk);
    return created.cache;
  }

  /** Bytes held by each tier. */
  get bytes(): { memory: number; disk: number } {
    return { memory: this.#memory.bytes, disk: this.#disk?.bytes ?? 0 };
  }

  /**
   * What a stat just said about an original: at `version` now, or gone (undefined). Entries of any
   * other version are dropped (they could never be served again: their key holds the old version).
   */
  observe(original: string, version: string | undefined): void {
    const entry = this.#byOriginal.get(original);
    if (!entry || entry.version === version) return;
    this.#drop(original);
  }

  /** The variant rendered from `version` of `original`, from memory or disk; counts a hit or a miss. */
  async get(original: string, version: string, variant: string): Promise<CachedVariant | undefined> {
    const cacheKey = resultKey(original, version, variant);
    const hot = this.#memory.get(cacheKey);
    if (hot) {
      this.#metrics.hits.inc({ tier: 'memory' });
      return hot.value;
    }
    const cold = await this.#disk?.get(cacheKey);
    // Re-checked after the read: the original may have changed while the disk answered.
    if (cold && this.#byOriginal.get(original)?.version === version) {
      this.#metrics.hits.inc({ tier: 'disk' });
      this.#memory.set(cacheKey, { original, value: cold }, cold.body.length + ENTRY_OVERHEAD_BYTES);
      return cold;
    }
    this.#metrics.misses.inc();
    return undefined;
  }

  /** Keeps a variant just rendered from `version` of `original` (which replaces any older version's entries). */
  set(original: string, version: string, variant: string, value: CachedVariant): void {
    const cacheKey = resultKey(original, version, variant);
    let entry = this.#byOriginal.get(original);
    if (entry && entry.version !== version) {
      this.#drop(original);
      entry = undefined;
    }
    if (!entry) {
      entry = { version, keys: new Set() };
      this.#byOriginal.set(original, entry);
    }
    entry.keys.add(cacheKey);
    const kept = this.#memory.set(cacheKey, { original, value }, value.body.length + ENTRY_OVERHEAD_BYTES);
    this.#disk?.set(cacheKey, value);
    if (!kept && !this.#disk) this.#unindex(original, cacheKey);
  }

  /** Drops every entry of an original (a new version seen, or the original gone). */
  #drop(original: string): void {
    const entry = this.#byOriginal.get(original);
    if (!entry) return;
    this.#byOriginal.delete(original);
    for (const cacheKey of entry.keys) {
      this.#memory.delete(cacheKey);
      this.#disk?.delete(cacheKey);
      this.#metrics.invalidations.inc();
    }
  }

  #evictedFromDisk(cacheKey: string): void {
    if (!this.#memory.has(cacheKey)) this.#unindex(originalOf(cacheKey), cacheKey);
  }

  #unindex(original: string, cacheKey: string): void {
    const entry = this.#byOriginal.get(original);
    if (!entry) return;
    entry.keys.delete(cacheKey);
    if (entry.keys.size === 0) this.#byOriginal.delete(original);
  }
}
