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

/** A preparation the test resolves or fails by hand; records what it made and what was given back. */
function heldPreparation(name: string, log: string[]) {
  let settle!: { resolve: (v: string) => void; reject: (e: unknown) => void };
  return {
    prep: {
      prepare: () => {
        log.push(`prepare ${name}`);
        return new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
      },
      dispose: (v: string) => log.push(`dispose ${v}`),
      slotTaken: () => log.push(`slot ${name}`),
    },
    resolve: () => settle.resolve(`${name}-bytes`),
    reject: (e: unknown) => settle.reject(e),
  };
}

describe('Limiter lookahead: preparing queued jobs while they wait', () => {
  it('prepares the first `lookahead` queued jobs at once, the next as places open, and hands each job what was prepared', async () => {
    const log: string[] = [];
    const limiter = new Limiter({ concurrency: 1, queueLimit: 5, lookahead: 1 });
    const a = heldPreparation('a', log);
    const b = heldPreparation('b', log);
    const c = heldPreparation('c', log);
    const got: string[] = [];
    const job = (hold: Promise<void>) => async (prepared: string) => {
      got.push(prepared);
      await hold;
      return prepared;
    };
    let finishA!: () => void;
    const pa = limiter.run(never, job(new Promise((r) => (finishA = r))), a.prep);
    const pb = limiter.run(never, job(Promise.resolve()), b.prep);
    const pc = limiter.run(never, job(Promise.resolve()), c.prep);
    await tick();
    // a took the slot and prepares in it; b (first in the queue) prepares while it waits; c does not yet.
    expect(log).toEqual(['slot a', 'prepare a', 'prepare b']);
    b.resolve();
    a.resolve();
    await tick();
    expect(got).toEqual(['a-bytes']);
    finishA();
    await pa;
    await tick();
    // As b leaves the queue c moves up and starts preparing; b's slot starts with b already
    // prepared (no second prepare); c then takes the slot b (which finishes at once) hands on.
    expect(log).toEqual(['slot a', 'prepare a', 'prepare b', 'prepare c', 'slot b', 'slot c']);
    c.resolve();
    expect(await Promise.all([pb, pc])).toEqual(['b-bytes', 'c-bytes']);
    expect(got).toEqual(['a-bytes', 'b-bytes', 'c-bytes']);
    expect(log.filter((l) => l.startsWith('dispose'))).toEqual([]);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('a preparation that fails while queued fails its job at once and frees its queue place; the job never runs', async () => {
    const log: string[] = [];
    const limiter = new Limiter({ concurrency: 1, queueLimit: 1, lookahead: 1 });
    const a = heldJob('a');
    const pa = limiter.run(never, a.job);
    const b = heldPreparation('b', log);
    let ran = false;
    const pb = limiter.run(never, async () => (ran = true), b.prep);
    await tick();
    expect(limiter.queued).toBe(1);
    b.reject(new ImageError('not_found', 'no original with key "b"'));
    await expect(pb).rejects.toMatchObject({ code: 'not_found' });
    expect(limiter.queued).toBe(0);
    // The freed place takes a new job (queue limit 1).
    const c = heldJob('c');
    const pc = limiter.run(never, c.job);
    await tick();
    expect(limiter.queued).toBe(1);
    a.finish();
    c.finish();
    expect(await Promise.all([pa, pc])).toEqual(['a', 'c']);
    expect(ran).toBe(false);
  });

  it('gives back what a queued job prepared when its deadline passes before its turn', async () => {
    const log: string[] = [];
    const limiter = new Limiter({ concurrency: 1, queueLimit: 2, lookahead: 2 });
    const a = heldJob('a');
    const pa = limiter.run(never, a.job);
    const early = heldPreparation('early', log);
    const late = heldPreparation('late', log);
    const d1 = new AbortController();
    const d2 = new AbortController();
    const p1 = limiter.run(d1.signal, async () => 'x', early.prep);
    const p2 = limiter.run(d2.signal, async () => 'y', late.prep);
    await tick();
    early.resolve(); // prepared, then shed
    await tick();
    d1.abort(new DOMException('deadline', 'TimeoutError'));
    d2.abort(new DOMException('deadline', 'TimeoutError')); // shed while still preparing
    await expect(p1).rejects.toMatchObject({ code: 'overloaded', status: 503 });
    await expect(p2).rejects.toMatchObject({ code: 'overloaded', status: 503 });
    late.resolve(); // finishes after its job left: given back too
    await tick();
    expect(log.filter((l) => l.startsWith('dispose')).sort()).toEqual(['dispose early-bytes', 'dispose late-bytes']);
    expect(log.filter((l) => l.startsWith('slot'))).toEqual([]);
    a.finish();
    await pa;
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('without lookahead (the default) a queued job prepares only once it has its slot', async () => {
    const log: string[] = [];
    const limiter = new Limiter({ concurrency: 1, queueLimit: 1 });
    const a = heldJob('a');
    const pa = limiter.run(never, a.job);
    const b = heldPreparation('b', log);
    const pb = limiter.run(never, async (v: string) => v, b.prep);
    await tick();
    expect(log).toEqual([]);
    a.finish();
    await pa;
    await tick();
    expect(log).toEqual(['slot b', 'prepare b']);
    b.resolve();
    expect(await pb).toBe('b-bytes');
  });
});
