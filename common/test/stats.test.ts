import { describe, expect, it } from 'vitest';
import { percentile } from '../stats.ts';

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('percentile (nearest rank: sorted[ceil(q*n)-1])', () => {
  it.each([
    // [samples, q, expected, why]
    [oneTo(100), 0.5, 50, 'p50 of 100 is the 50th value'],
    [oneTo(100), 0.95, 95, 'p95 of 100 is the 95th value'],
    [oneTo(100), 0.99, 99, 'p99 of 100 is the 99th value, not the maximum'],
    [oneTo(100), 1, 100, 'p100 is the maximum'],
    [oneTo(100), 0, 1, 'p0 is the minimum'],
    [oneTo(10), 0.99, 10, 'p99 of 10 samples is the maximum'],
    [oneTo(10), 0.5, 5, 'p50 of an even count is the lower middle'],
    [oneTo(3), 0.5, 2, 'p50 of an odd count is the middle'],
    [[7], 0.99, 7, 'one sample is every percentile'],
    [[7], 0, 7, 'one sample at q=0'],
    [oneTo(1000), 0.999, 999, 'p99.9 of 1000'],
    [[1, 2, 2, 2, 9], 0.6, 2, 'ties'],
  ])('%j at q=%d -> %d (%s)', (sorted, q, want) => {
    expect(percentile(sorted, q)).toBe(want);
  });

  it('is undefined for an empty list', () => {
    expect(percentile([], 0.5)).toBeUndefined();
    expect(percentile([], 0)).toBeUndefined();
  });

  it('is the smallest value with at least q of the samples at or below it', () => {
    for (const n of [1, 2, 3, 7, 10, 99, 100, 101]) {
      const s = oneTo(n);
      for (const q of [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1]) {
        const v = percentile(s, q)!;
        expect(s.filter((x) => x <= v).length / n).toBeGreaterThanOrEqual(q);
        expect(s.filter((x) => x < v).length / n).toBeLessThan(q);
      }
    }
  });

  it.each([-0.1, 1.5, Number.NaN])('rejects q=%d (a fraction from 0 to 1 is expected)', (q) => {
    expect(() => percentile([1, 2, 3], q)).toThrow(/from 0 to 1/);
  });
});
