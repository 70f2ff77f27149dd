import { describe, expect, it } from 'vitest';
import {
  afterExit,
  afterFailedStart,
  afterHealthy,
  afterProbe,
  backoffDelayMs,
  defaultLiveness,
  defaultRestartPolicy,
  describeExit,
  type PartRecord,
} from '../restart-policy.ts';

const policy = { initialDelayMs: 500, maxDelayMs: 10_000, stableAfterMs: 30_000, maxFailedRestarts: 3 };
const record = (restarts: number, failedRestarts = 0): PartRecord => ({ restarts, failedRestarts });

describe('backoffDelayMs', () => {
  const cases: Array<[number, number]> = [
    [0, 500],
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [5, 10_000], // capped
    [50, 10_000], // no overflow to Infinity or NaN
  ];
  it.each(cases)('restart %i in a row waits %i ms', (n, ms) => expect(backoffDelayMs(policy, n)).toBe(ms));
});

describe('afterExit: a running part exited unexpectedly', () => {
  const cases: Array<[string, PartRecord, number, { delayMs: number; record: PartRecord }]> = [
    ['first crash: the shortest delay', record(0), 5_000, { delayMs: 500, record: record(1) }],
    ['crashing again soon after a restart: the delay doubles', record(1), 2_000, { delayMs: 1000, record: record(2) }],
    ['a crash loop: capped at the maximum', record(9), 1_000, { delayMs: 10_000, record: record(10) }],
    ['up longer than stableAfterMs: the backoff starts over', record(9), 30_000, { delayMs: 500, record: record(1) }],
    ['failed starts are not carried over a healthy run', record(2, 0), 100, { delayMs: 2000, record: record(3, 0) }],
  ];
  it.each(cases)('%s', (_, before, upMs, expected) => expect(afterExit(policy, before, upMs)).toEqual({ action: 'restart', ...expected }));
});

describe('afterFailedStart: a restart did not become healthy', () => {
  it('retries with the next delay while fewer than maxFailedRestarts failed in a row', () => {
    expect(afterFailedStart(policy, record(1, 0))).toEqual({ action: 'restart', delayMs: 1000, record: record(2, 1) });
    expect(afterFailedStart(policy, record(2, 1))).toEqual({ action: 'restart', delayMs: 2000, record: record(3, 2) });
  });
  it('gives up at maxFailedRestarts in a row, saying so', () => {
    const d = afterFailedStart(policy, record(3, 2));
    expect(d).toMatchObject({ action: 'give-up', record: record(3, 3) });
    expect(d.action === 'give-up' && d.reason).toBe('3 restarts in a row did not become healthy');
  });
  it('a healthy restart resets the failed count but not the backoff (only a stable run does)', () => {
    expect(afterHealthy(record(4, 2))).toEqual(record(4, 0));
  });
});

describe('describeExit', () => {
  const cases: Array<[number | null, NodeJS.Signals | null, string]> = [
    [null, 'SIGKILL', 'killed by SIGKILL'],
    [1, null, 'exit code 1'],
    [0, null, 'exit code 0'],
    [null, null, 'exited'],
  ];
  it.each(cases)('code %s signal %s -> %s', (code, signal, text) => expect(describeExit({ code, signal })).toBe(text));
});

describe('afterProbe: liveness of a part that may hang', () => {
  const l = { intervalMs: 1000, timeoutMs: 500, missesToKill: 3 };
  const cases: Array<[number, boolean, { misses: number; kill: boolean }]> = [
    [0, true, { misses: 0, kill: false }],
    [2, true, { misses: 0, kill: false }], // an answer clears the misses
    [0, false, { misses: 1, kill: false }],
    [1, false, { misses: 2, kill: false }],
    [2, false, { misses: 3, kill: true }],
  ];
  it.each(cases)('%i misses, answered=%s -> %j', (misses, ok, expected) => expect(afterProbe(l, misses, ok)).toEqual(expected));
});

describe('defaults', () => {
  it('are the documented ones', () => {
    expect(defaultRestartPolicy).toEqual({ initialDelayMs: 500, maxDelayMs: 10_000, stableAfterMs: 30_000, maxFailedRestarts: 5 });
    expect(defaultLiveness).toEqual({ intervalMs: 1000, timeoutMs: 800, missesToKill: 3 });
  });
});
