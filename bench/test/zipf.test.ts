import { describe, expect, it } from 'vitest';
import { idealHitRatio, stampedeSequence, variantPaths, zipfCdf, zipfSequence } from '../lib/zipf.ts';

describe('variantPaths', () => {
  it('gives distinct paths over every original, and a disjoint set with an offset', () => {
    const a = variantPaths(['x.jpg', 'y.jpg', 'z.webp'], 2000);
    expect(new Set(a).size).toBe(2000);
    expect(new Set(a.map((p) => p.split('?')[0])).size).toBe(3);
    const b = variantPaths(['x.jpg', 'y.jpg', 'z.webp'], 50, 4);
    expect(b.filter((p) => a.includes(p))).toEqual([]);
    expect(a[0]).toBe('/image/files/x.jpg?w=160&format=jpeg');
  });
  it('says when the widths run out', () => {
    expect(() => variantPaths(['x.jpg'], 2000)).toThrow(/do not fit widths up to 4096/);
  });
});

describe('zipfSequence', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(zipfSequence(500, 100, 1, 7)).toEqual(zipfSequence(500, 100, 1, 7));
    expect(zipfSequence(500, 100, 1, 7)).not.toEqual(zipfSequence(500, 100, 1, 8));
  });
  it('draws the most popular variant about 1/H(n) of the time (exponent 1)', () => {
    const n = 2000;
    const seq = zipfSequence(20_000, n, 1, 16);
    expect(seq.every((i) => i >= 0 && i < n)).toBe(true);
    const counts = new Map<number, number>();
    for (const i of seq) counts.set(i, (counts.get(i) ?? 0) + 1);
    const top = Math.max(...counts.values());
    const harmonic = Array.from({ length: n }, (_, r) => 1 / (r + 1)).reduce((a, b) => a + b);
    // Expected 20000 / 8.18 = 2445; a binomial's sd is ~46, so +-200 cannot fail by chance.
    expect(Math.abs(top - 20_000 / harmonic)).toBeLessThan(200);
    // The second most popular about half as often.
    const second = [...counts.values()].sort((a, b) => b - a)[1]!;
    expect(second / top).toBeGreaterThan(0.4);
    expect(second / top).toBeLessThan(0.6);
  });
  it('the cdf ends at 1 and exponent 0 is uniform', () => {
    const c = zipfCdf(4, 0);
    expect([...c]).toEqual([0.25, 0.5, 0.75, 1]);
    expect(zipfCdf(10, 1)[9]).toBeCloseTo(1, 12);
  });
  it('idealHitRatio: every first request misses', () => {
    expect(idealHitRatio([1, 1, 2, 1])).toBe(0.5);
    expect(idealHitRatio([])).toBe(0);
  });
});

describe('stampedeSequence', () => {
  it('asks for each variant equally often, spread over the burst', () => {
    const s = stampedeSequence(1000, 50);
    expect(s.length).toBe(1000);
    expect(s.slice(0, 3)).toEqual([0, 1, 2]);
    expect(s.filter((i) => i === 49).length).toBe(20);
  });
});
