import { describe, expect, it } from 'vitest';
import { cacheCounterNames, metricSum } from '../lib/metrics-text.ts';

const text = [
  '# HELP image_resizes_total Resizes performed',
  '# TYPE image_resizes_total counter',
  'image_resizes_total 42',
  '# TYPE image_resizes_total_other counter',
  'image_resizes_total_other 7',
  '# TYPE image_result_cache_hits_total counter',
  'image_result_cache_hits_total{tier="memory"} 10',
  'image_result_cache_hits_total{tier="disk"} 5',
  '# TYPE image_result_cache_misses_total counter',
  'image_result_cache_misses_total 3',
  '# TYPE image_result_cache_bytes gauge',
  'image_result_cache_bytes 1000',
].join('\n');

describe('metricSum', () => {
  it('sums every label set of one metric, not of longer names', () => {
    expect(metricSum(text, 'image_resizes_total')).toBe(42);
    expect(metricSum(text, 'image_result_cache_hits_total')).toBe(15);
  });
  it('is undefined for an absent metric', () => {
    expect(metricSum(text, 'nothing_total')).toBeUndefined();
  });
});

describe('cacheCounterNames', () => {
  it('finds the cache counters of hits and misses, not gauges', () => {
    expect(cacheCounterNames(text)).toEqual({ hits: ['image_result_cache_hits_total'], misses: ['image_result_cache_misses_total'] });
    expect(cacheCounterNames('# TYPE image_resizes_total counter\n')).toEqual({ hits: [], misses: [] });
  });
});
