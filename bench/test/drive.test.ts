import { describe, expect, it } from 'vitest';
import { closedLoop, closedLoopFor, limitConcurrency, openLoop, type Exec } from '../lib/drive.ts';

/** An exec that records which indices ran and how many were in flight at once. */
function recorder(fail: (i: number) => boolean = () => false) {
  const seen: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const exec: Exec = async (i) => {
    seen.push(i);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    return fail(i) ? { ok: false, error: `failed ${i % 2}` } : { ok: true };
  };
  return { exec, seen, max: () => maxInFlight };
}

describe('closedLoop', () => {
  it('counts exactly the requested indices, keeps the concurrency, and sends filler after them', async () => {
    const r = recorder();
    let closed = 0;
    const res = await closedLoop(r.exec, { first: 10, count: 20, concurrency: 4, onWindowClose: () => closed++ });
    expect(res.ok).toBe(20);
    expect(res.latenciesMs).toHaveLength(20);
    expect(closed).toBe(1);
    expect(r.max()).toBe(4);
    // Every counted index ran once; anything beyond first+count was filler.
    for (let i = 10; i < 30; i++) expect(r.seen.filter((x) => x === i)).toHaveLength(1);
    expect(r.seen.every((i) => i >= 10)).toBe(true);
    expect(res.completedInWindow).toBeGreaterThanOrEqual(20);
  });

  it('returns at once for zero requests (and still closes the window)', async () => {
    let closed = 0;
    const res = await closedLoop(async () => ({ ok: true }), { first: 0, count: 0, concurrency: 4, onWindowClose: () => closed++ });
    expect(res.ok).toBe(0);
    expect(closed).toBe(1);
  });

  it('counts failures apart, with a few distinct samples, and turns a throw into a failure', async () => {
    const exec: Exec = async (i) => {
      if (i === 3) throw new Error('boom');
      return i % 2 === 0 ? { ok: false, error: 'even' } : { ok: true };
    };
    const res = await closedLoop(exec, { first: 0, count: 6, concurrency: 2 });
    expect(res.ok).toBe(2);
    expect(res.errors).toBe(4);
    expect(res.errorSamples.sort()).toEqual(['boom', 'even']);
  });
});

describe('openLoop', () => {
  it('sends every due request once, in order, and measures each', async () => {
    const r = recorder();
    const res = await openLoop(r.exec, { first: 5, count: 10, rate: 10_000, maxInFlight: 100 });
    expect(r.seen).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(res.ok).toBe(10);
    expect(res.dropped).toBe(0);
  });

  it('drops (and counts as errors) requests due while maxInFlight are outstanding', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const exec: Exec = async () => {
      await gate;
      return { ok: true };
    };
    const run = openLoop(exec, { first: 0, count: 5, rate: 1_000_000, maxInFlight: 2 });
    setTimeout(release, 20);
    const res = await run;
    expect(res.ok).toBe(2);
    expect(res.dropped).toBe(3);
    expect(res.errors).toBe(3);
    expect(res.errorSamples[0]).toMatch(/2 requests already in flight/);
  });
});

describe('limitConcurrency', () => {
  it('never runs more than the limit at once, and runs everything', async () => {
    const r = recorder();
    const limited = limitConcurrency(2, r.exec);
    const out = await Promise.all(Array.from({ length: 9 }, (_, i) => limited(i)));
    expect(out.every((o) => o.ok)).toBe(true);
    expect(r.max()).toBe(2);
    expect([...r.seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('closedLoopFor', () => {
  it('sends consecutive indices from `first`, never more than `concurrency` at once, and counts every one it sent', async () => {
    const rec = recorder((i) => i % 5 === 0);
    const r = await closedLoopFor(rec.exec, { first: 10, seconds: 0.05, concurrency: 3 });
    expect(rec.seen.length).toBeGreaterThan(0);
    expect([...rec.seen].sort((a, b) => a - b)).toEqual(Array.from({ length: rec.seen.length }, (_, k) => 10 + k));
    expect(rec.max()).toBeLessThanOrEqual(3);
    expect(r.ok + r.errors).toBe(rec.seen.length);
    expect(r.completedInWindow).toBe(rec.seen.length);
    expect(r.errors).toBe(rec.seen.filter((i) => i % 5 === 0).length);
    expect(r.indices).toHaveLength(r.ok);
    expect(r.latenciesMs).toHaveLength(r.ok);
  });
});
