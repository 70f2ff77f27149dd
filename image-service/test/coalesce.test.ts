import { describe, expect, it } from 'vitest';
import { Coalescer } from '../src/coalesce.ts';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
const never = () => new AbortController().signal;

describe('Coalescer', () => {
  it('runs the work once for identical keys in flight, separately for other keys', async () => {
    const c = new Coalescer<string>();
    const d = deferred<string>();
    let calls = 0;
    const work = () => {
      calls++;
      return d.promise;
    };
    const a = c.run('k', never(), work);
    const b = c.run('k', never(), work);
    const other = c.run('other', never(), async () => 'x');
    expect([a.shared, b.shared, other.shared]).toEqual([false, true, false]);
    expect(calls).toBe(1);
    d.resolve('v');
    expect(await Promise.all([a.result, b.result, other.result])).toEqual(['v', 'v', 'x']);
    expect(c.size).toBe(0);
    // Done flights are forgotten: the next call works again.
    const again = c.run('k', never(), async () => 'w');
    expect(again.shared).toBe(false);
    expect(await again.result).toBe('w');
  });

  it('shares a failure with every waiter and forgets the flight', async () => {
    const c = new Coalescer<string>();
    const d = deferred<string>();
    const a = c.run('k', never(), () => d.promise);
    const b = c.run('k', never(), () => d.promise);
    d.reject(new Error('bad'));
    await expect(a.result).rejects.toThrow('bad');
    await expect(b.result).rejects.toThrow('bad');
    expect(c.size).toBe(0);
  });

  it('a waiter whose signal aborts leaves alone; the work goes on for the others', async () => {
    const c = new Coalescer<string>();
    const d = deferred<string>();
    let workSignal!: AbortSignal;
    const first = new AbortController();
    const a = c.run('k', first.signal, (s) => ((workSignal = s), d.promise));
    const b = c.run('k', never(), () => d.promise);
    first.abort('first gave up');
    await expect(a.result).rejects.toBe('first gave up');
    expect(workSignal.aborted).toBe(false);
    d.resolve('v');
    expect(await b.result).toBe('v');
  });

  it('aborts the work once every waiter has left, and lets the next caller start afresh', async () => {
    const c = new Coalescer<string>();
    const d = deferred<string>();
    let workSignal!: AbortSignal;
    const x = new AbortController();
    const y = new AbortController();
    const a = c.run('k', x.signal, (s) => ((workSignal = s), d.promise));
    const b = c.run('k', y.signal, () => d.promise);
    x.abort('x');
    y.abort('y');
    await expect(a.result).rejects.toBe('x');
    await expect(b.result).rejects.toBe('y');
    expect(workSignal.aborted).toBe(true);
    expect(c.size).toBe(0);
    const next = c.run('k', never(), async () => 'fresh');
    expect(next.shared).toBe(false);
    d.reject(new Error('abandoned work fails later: nobody hears of it'));
    expect(await next.result).toBe('fresh');
  });

  it('an already aborted caller starts nothing', async () => {
    const c = new Coalescer<string>();
    let calls = 0;
    const r = c.run('k', AbortSignal.abort('late'), async () => (calls++, 'v'));
    await expect(r.result).rejects.toBe('late');
    expect(calls).toBe(0);
    expect(c.size).toBe(0);
  });

  it('a work function that throws synchronously is a rejected flight, not a throw', async () => {
    const c = new Coalescer<string>();
    const r = c.run('k', never(), () => {
      throw new Error('sync');
    });
    await expect(r.result).rejects.toThrow('sync');
  });
});
