import { describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.ts';
import { Limiter } from '../src/limiter.ts';

/** A job that runs until the test ends it. */
function heldJob<T>(value: T) {
  let finish!: () => void;
  let started = false;
  const done = new Promise<void>((r) => (finish = r));
  return {
    job: async () => {
      started = true;
      await done;
      return value;
    },
    finish: () => finish(),
    started: () => started,
  };
}
const tick = () => new Promise((r) => setImmediate(r));
const never = new AbortController().signal;

describe('Limiter', () => {
  it('runs at most `concurrency` jobs, queues the next ones in order, and sheds past the queue', async () => {
    const limiter = new Limiter({ concurrency: 2, queueLimit: 2, retryAfterSeconds: 3 });
    const jobs = [0, 1, 2, 3].map((i) => heldJob(i));
    const results = jobs.map((j) => limiter.run(never, j.job));
    await tick();
    expect([limiter.active, limiter.queued]).toEqual([2, 2]);
    expect(jobs.map((j) => j.started())).toEqual([true, true, false, false]);

    const shed = await limiter.run(never, async () => 'never').catch((e: unknown) => e);
    expect(shed).toBeInstanceOf(ImageError);
    expect((shed as ImageError).code).toBe('overloaded');
    expect((shed as ImageError).status).toBe(503);
    expect((shed as ImageError).headers).toEqual({ 'Retry-After': '3' });

    jobs[1]!.finish();
    await tick();
    expect(jobs.map((j) => j.started())).toEqual([true, true, true, false]);
    expect([limiter.active, limiter.queued]).toEqual([2, 1]);
    for (const j of jobs) j.finish();
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('hands a freed slot to the queue, not to a newcomer', async () => {
    const limiter = new Limiter({ concurrency: 1, queueLimit: 1 });
    const a = heldJob('a');
    const b = heldJob('b');
    const pa = limiter.run(never, a.job);
    const pb = limiter.run(never, b.job);
    await tick();
    a.finish();
    await pa;
    // b owns the slot now; a newcomer must queue (and with the queue empty again, it may).
    expect(limiter.active).toBe(1);
    const c = heldJob('c');
    const pc = limiter.run(never, c.job);
    await tick();
    expect(c.started()).toBe(false);
    b.finish();
    c.finish();
    expect(await Promise.all([pb, pc])).toEqual(['b', 'c']);
  });

  it('a queued job whose deadline passes leaves the queue shed (503 overloaded + Retry-After, not 504), and never runs', async () => {
    const limiter = new Limiter({ concurrency: 1, queueLimit: 5 });
    const a = heldJob('a');
    const pa = limiter.run(never, a.job);
    const deadline = new AbortController();
    const b = heldJob('b');
    const pb = limiter.run(deadline.signal, b.job);
    await tick();
    expect(limiter.queued).toBe(1);
    deadline.abort(new DOMException('deadline', 'TimeoutError'));
    // Never started: it was shed, and a 504 would make the front door replay it on legacy.
    await expect(pb).rejects.toMatchObject({ code: 'overloaded', status: 503, headers: { 'Retry-After': '1' } });
    expect(limiter.queued).toBe(0);
    a.finish();
    await pa;
    expect(b.started()).toBe(false);
    expect(limiter.active).toBe(0);
  });

  it('keeps an ImageError abort reason as it is, and refuses an already aborted signal at once', async () => {
    const limiter = new Limiter({ concurrency: 1, queueLimit: 1 });
    const reason = new ImageError('timeout', 'timeout: storage did not answer within 5 ms');
    await expect(limiter.run(AbortSignal.abort(reason), async () => 1)).rejects.toBe(reason);
    expect(limiter.active).toBe(0);
  });

  it('frees the slot when a job fails', async () => {
    const limiter = new Limiter({ concurrency: 1, queueLimit: 0 });
    await expect(limiter.run(never, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(limiter.active).toBe(0);
    expect(await limiter.run(never, async () => 'ok')).toBe('ok');
  });
});
