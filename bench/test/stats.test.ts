import { describe, expect, it } from 'vitest';
import { median, rotation, roundSlices, summarizeLatencies, wholeCycles } from '../lib/stats.ts';

// The percentile itself is tested in common/test/stats.test.ts; summarizeLatencies below uses it.

describe('median', () => {
  it.each([
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[5], 5],
  ])('%j -> %d', (v, want) => expect(median(v)).toBe(want));
  it('of nothing is undefined and does not reorder its input', () => {
    expect(median([])).toBeUndefined();
    const v = [3, 1, 2];
    median(v);
    expect(v).toEqual([3, 1, 2]);
  });
});

describe('summarizeLatencies', () => {
  it('rounds to 0.01 ms and reports nulls when empty', () => {
    expect(summarizeLatencies([1.234, 2.345, 3.456])).toEqual({ count: 3, p50_ms: 2.35, p95_ms: 3.46, p99_ms: 3.46, max_ms: 3.46 });
    expect(summarizeLatencies([])).toEqual({ count: 0, p50_ms: null, p95_ms: null, p99_ms: null, max_ms: null });
  });
  it('uses the nearest rank: on 100 samples the p99 is the 99th, not the maximum', () => {
    const s = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(summarizeLatencies(s)).toMatchObject({ count: 100, p50_ms: 50, p95_ms: 95, p99_ms: 99, max_ms: 100 });
  });
});

describe('wholeCycles', () => {
  it.each([
    [48, 5, 8, 48], // 40 requests' worth rounds to one pass
    [48, 1, 8, 48], // never less than one pass
    [48, 30, 8, 240], // 240 = 5 passes
    [24, 100, 2, 192], // 200 -> 8 passes
  ])('list %d at %d req/s for %ds -> %d requests', (len, rps, s, want) => {
    expect(wholeCycles(len, rps, s)).toBe(want);
    expect(want % len).toBe(0);
  });
});

describe('roundSlices', () => {
  it('covers [0,total) without gaps or overlaps', () => {
    const slices = roundSlices(100, 3);
    expect(slices).toEqual([
      { from: 0, to: 33 },
      { from: 33, to: 66 },
      { from: 66, to: 100 },
    ]);
  });
});

describe('rotation', () => {
  it('starts each round with the next subject', () => {
    expect(rotation(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotation(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotation(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a']);
    expect(rotation([], 2)).toEqual([]);
  });
});
