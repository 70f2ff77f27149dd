/** The sink's bounded queue: never waits, drops and counts when full, keeps going after a failure. */
import { describe, expect, it } from 'vitest';
import { BoundedQueue } from '../src/shadow/queue.ts';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('BoundedQueue', () => {
  it('takes up to capacity waiting items beyond those in flight, then drops and counts', async () => {
    const g = gate();
    const worked: number[] = [];
    const q = new BoundedQueue<number>({
      capacity: 2,
      concurrency: 1,
      work: async (i) => {
        await g.opened;
        worked.push(i);
      },
    });
    // 1 goes straight to the worker; 2 and 3 wait; 4 and 5 find the queue full.
    const offered = [1, 2, 3, 4, 5].map((i) => q.offer(i));
    expect(offered).toEqual([true, true, true, false, false]);
    expect(q.counts()).toEqual({ accepted: 3, dropped: 2, depth: 2, inFlight: 1 });
    expect(q.offer(6)).toBe(false);
    g.open();
    await q.idle();
    expect(worked).toEqual([1, 2, 3]);
    expect(q.offer(7)).toBe(true);
    await q.idle();
    expect(worked).toEqual([1, 2, 3, 7]);
    expect(q.counts()).toEqual({ accepted: 4, dropped: 3, depth: 0, inFlight: 0 });
  });

  it('a failing item is reported and the queue goes on', async () => {
    const errors: unknown[] = [];
    const worked: number[] = [];
    const q = new BoundedQueue<number>({
      capacity: 10,
      concurrency: 2,
      work: async (i) => {
        if (i === 2) throw new Error('boom');
        worked.push(i);
      },
      onError: (err) => errors.push(err),
    });
    for (const i of [1, 2, 3, 4]) q.offer(i);
    await q.idle();
    expect(worked.sort()).toEqual([1, 3, 4]);
    expect(errors).toHaveLength(1);
  });

  it('idle() resolves at once when there is nothing to do', async () => {
    const q = new BoundedQueue<number>({ capacity: 1, concurrency: 1, work: async () => {} });
    await expect(q.idle()).resolves.toBeUndefined();
  });
});
