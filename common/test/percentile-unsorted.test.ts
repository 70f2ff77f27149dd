/**
 * percentileOrNaN: the project's nearest-rank percentile for measurements that arrive unsorted
 * and may be empty (the chaos table prints NaN as '-' rather than stopping).
 */
import { describe, expect, it } from 'vitest';
import { percentileOrNaN } from '../stats.ts';

const shuffled = (n: number) => Array.from({ length: n }, (_, i) => ((i * 37) % n) + 1);

describe('percentileOrNaN (unsorted in, nearest rank, NaN for none)', () => {
  it.each([
    // [samples, q, expected, why]
    [shuffled(100), 0.99, 99, 'p99 of 100 samples is the 99th value, not the maximum'],
    [shuffled(100), 0.5, 50, 'p50 of 100 is the 50th value, not the 51st'],
    [shuffled(100), 1, 100, 'p100 is the maximum'],
    [shuffled(10), 0.99, 10, 'p99 of 10 samples is the maximum'],
    [[30, 10, 20], 0.5, 20, 'the input is sorted first'],
    [[7], 0.99, 7, 'one sample is every percentile'],
  ])('%j at q=%d -> %d (%s)', (values, q, want) => {
    expect(percentileOrNaN(values, q)).toBe(want);
  });

  it('is NaN for no samples', () => {
    expect(percentileOrNaN([], 0.99)).toBeNaN();
  });

  it('leaves its input as it was', () => {
    const values = [3, 1, 2];
    percentileOrNaN(values, 0.5);
    expect(values).toEqual([3, 1, 2]);
  });
});
