/**
 * The supervisor's process handling with in-process fake parts: exits, failed restarts, hangs,
 * stop order. Delays are 1 ms: what is asserted is what happened, never how long it took.
 */
import { describe, expect, it } from 'vitest';
import { Supervisor, type ExitInfo, type PartInstance, type SupervisedPart } from '../supervisor.ts';

const policy = { initialDelayMs: 1, maxDelayMs: 4, stableAfterMs: 60_000, maxFailedRestarts: 3 };
const liveness = { intervalMs: 1, timeoutMs: 1, missesToKill: 3 };

class FakeProcess implements PartInstance {
  static nextPid = 100;
  readonly pid = FakeProcess.nextPid++;
  private end!: (e: ExitInfo) => void;
  readonly exited = new Promise<ExitInfo>((r) => (this.end = r));
  stopped = false;
  killed = false;
  exit(e: ExitInfo) {
    this.end(e);
  }
  async stop() {
    this.stopped = true;
    this.end({ code: 0, signal: 'SIGTERM' });
  }
  kill() {
    this.killed = true;
    this.end({ code: null, signal: 'SIGKILL' });
  }
}

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
};

function setup(restart: () => Promise<PartInstance>, probe?: SupervisedPart['probe']) {
  const log: string[] = [];
  const s = new Supervisor({ policy, liveness, log: (l) => log.push(l) });
  const first = new FakeProcess();
  const part: SupervisedPart = { name: 'image service', restart, ...(probe ? { probe } : {}) };
  s.watch(part, first);
  return { s, log, first };
}

describe('Supervisor', () => {
  it('restarts a part that exits, with one line naming it and how it ended, then one when it is back', async () => {
    const started: FakeProcess[] = [];
    const { s, log, first } = setup(async () => {
      const p = new FakeProcess();
      started.push(p);
      return p;
    });
    first.exit({ code: null, signal: 'SIGKILL' });
    await until(() => log.length === 2);
    expect(log[0]).toMatch(new RegExp(`^stack: the image service \\(pid ${first.pid}\\) killed by SIGKILL after [\\d.]+ s up; restarting it in 0\\.0 s$`));
    expect(log[1]).toMatch(new RegExp(`^stack: the image service is up again \\(pid ${started[0]!.pid}, `));
    expect(s.pids()).toEqual({ 'image service': started[0]!.pid });
    await s.stop();
    expect(started[0]!.stopped).toBe(true);
  });

  it('gives up after maxFailedRestarts restarts in a row that fail, saying which part and why', async () => {
    let attempts = 0;
    const { s, log, first } = setup(async () => {
      attempts++;
      throw new Error('port 8082 is taken\nmore detail');
    });
    first.exit({ code: 1, signal: null });
    expect(await s.gaveUp).toBe('the image service cannot be restarted: 3 restarts in a row did not become healthy');
    expect(attempts).toBe(3);
    expect(log[0]).toContain('exit code 1');
    expect(log.slice(1)).toEqual([
      expect.stringMatching(/^stack: the image service did not come back: port 8082 is taken; retrying in/),
      expect.stringMatching(/^stack: the image service did not come back: port 8082 is taken; retrying in/),
      'stack: the image service did not come back: port 8082 is taken',
    ]);
    await s.stop();
  });

  it('kills a part that misses missesToKill probes in a row, and restarts it', async () => {
    const next = new FakeProcess();
    let probes = 0;
    const { s, log, first } = setup(
      async () => next,
      async () => (++probes, false),
    );
    await until(() => first.killed);
    expect(probes).toBe(3);
    expect(log[0]).toBe(`stack: the image service (pid ${first.pid}) did not answer its health check 3 times in a row (1 ms each); killing it (SIGKILL)`);
    await until(() => log.length >= 3);
    expect(log[1]).toMatch(/^stack: the image service \(pid \d+\) hung and was killed after/);
    await s.stop();
    expect(next.stopped).toBe(true);
  });

  it('a probe that answers again clears the misses', async () => {
    const answers = [false, false, true, false, false, true];
    let i = 0;
    const { s, first } = setup(
      async () => new FakeProcess(),
      async () => answers[i++] ?? true,
    );
    await until(() => i >= answers.length + 2);
    expect(first.killed).toBe(false);
    await s.stop();
  });

  it('stop(): no restart of what exits while stopping, parts stopped in the order given', async () => {
    const order: string[] = [];
    const s = new Supervisor({ policy, liveness, log: () => undefined });
    let restarts = 0;
    for (const name of ['legacy', 'image service', 'front door']) {
      const p = new FakeProcess();
      const stop = p.stop.bind(p);
      p.stop = async () => (order.push(name), stop());
      s.watch({ name, restart: async () => (restarts++, new FakeProcess()) }, p);
    }
    await s.stop(['front door', 'image service']);
    expect(order).toEqual(['front door', 'image service', 'legacy']);
    await new Promise((r) => setTimeout(r, 5));
    expect(restarts).toBe(0);
  });
});
