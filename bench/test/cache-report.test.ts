import { describe, expect, it } from 'vitest';
import type { CacheResults, StampedeRow } from '../lib/cache-bench.ts';
import { renderCache } from '../lib/cache-report.ts';

const row = (
  cache: 'off' | 'on',
  state: 'cold' | 'warm',
  ok: number,
  renders: number,
  queueLimit: number | null = null,
  deadlineMs: number | null = null,
): StampedeRow => ({
  cache,
  state,
  queue_limit: queueLimit,
  deadline_ms: deadlineMs,
  requests: 1000,
  ok,
  errors: 1000 - ok,
  error_samples: ok < 1000 ? ['status 503 for /image/files/a.jpg?w=164'] : [],
  renders,
  renders_per_variant: renders / 50,
  p50_ms: 10,
  p99_ms: 20,
  max_ms: 30,
});

const results = (rows: StampedeRow[]): CacheResults => ({
  cache_mb: 256,
  concurrency: 4,
  service_env: {},
  zipf: { requests: 100, variants: 10, exponent: 1, nocacheRequests: 10, seed: 1, ideal_hit_ratio: 0.9, distinct_variants: 10, rows: [] },
  stampede: { requests: 1000, variants: 50, seconds: 1, rows },
  cache_counters: { hits: [], misses: [] },
  ratios: { rps_on_over_off: null, p99_on_over_off: null },
});

describe('renderCache: the CDN-expiry rows', () => {
  it('tells a cold process from a warm one, and names the state of the rows that had errors', () => {
    const text = renderCache(
      results([row('off', 'cold', 205, 32), row('on', 'cold', 469, 32), row('on', 'cold', 920, 50, 50, 60000), row('on', 'warm', 1000, 0)]),
    ).join('\n');
    expect(text).toContain('| off | cold | default | default | 205 of 1000 | 795 | 32 | 0.64 |');
    expect(text).toContain('| on | cold | 50 | 60000 | 920 of 1000 | 80 | 50 | 1.00 |');
    expect(text).toContain('| on | warm | default | default | 1000 of 1000 | 0 | 0 | 0.00 |');
    expect(text).toContain('Errors (CDN expiry, cache on, cold)');
    expect(text).toContain('Errors (CDN expiry, cache on, cold, QUEUE_LIMIT=50, REQUEST_TIMEOUT_MS=60000)');
    expect(text).not.toContain('cache on, warm)');
  });
});
