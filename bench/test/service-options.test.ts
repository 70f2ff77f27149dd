import { describe, expect, it } from 'vitest';
import { withCurrentNames } from '../lib/env-names.ts';
import { optionsFromEnv } from '../service.ts';

describe('bench/service.ts settings', () => {
  it('reads the shared BENCH_* names', () => {
    const o = optionsFromEnv({ BENCH_ROUNDS: '1', BENCH_SECONDS: '2', BENCH_CONCURRENCY: '3', BENCH_OPEN_SECONDS: '4', BENCH_WARMUP_SECONDS: '1' });
    expect(o).toMatchObject({ rounds: 1, roundSeconds: 2, connections: 3, openSeconds: 4, warmupSeconds: 1 });
  });
  it('the old names still reach the same settings through withCurrentNames', () => {
    const o = optionsFromEnv(withCurrentNames({ BENCH_ROUND_SECONDS: '5', BENCH_CONNECTIONS: '6' }).env);
    expect(o).toMatchObject({ roundSeconds: 5, connections: 6 });
  });
  it('says what was expected of a bad value', () => {
    expect(() => optionsFromEnv({ BENCH_SECONDS: 'ten' })).toThrow(/BENCH_SECONDS: expected a positive number, got "ten"/);
  });
});
