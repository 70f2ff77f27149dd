import { describe, expect, it } from 'vitest';
import { RENAMED, withCurrentNames } from '../lib/env-names.ts';

describe('withCurrentNames (the benchmark modes share one set of BENCH_* names)', () => {
  it.each(Object.entries(RENAMED))('%s still works, as %s, with a warning that names the new variable', (old, current) => {
    const { env, warnings } = withCurrentNames({ [old]: '5' });
    expect(env[current]).toBe('5');
    expect(env[old]).toBeUndefined();
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`${old} is deprecated.*${current}`))]);
  });
  it('the current name wins over an old one, and says so', () => {
    const { env, warnings } = withCurrentNames({ BENCH_CONNECTIONS: '3', BENCH_CONCURRENCY: '9' });
    expect(env.BENCH_CONCURRENCY).toBe('9');
    expect(warnings[0]).toMatch(/BENCH_CONNECTIONS.*ignored.*BENCH_CONCURRENCY=9/);
  });
  it('leaves the current names and everything else alone, without warnings, and does not touch its input', () => {
    const input = { BENCH_SECONDS: '2', BENCH_ROUNDS: '1', UV_THREADPOOL_SIZE: '4', BENCH_ROUND_SECONDS: '' };
    const { env, warnings } = withCurrentNames(input);
    expect(env).toEqual({ BENCH_SECONDS: '2', BENCH_ROUNDS: '1', UV_THREADPOOL_SIZE: '4' });
    expect(warnings).toEqual([]);
    expect(input.BENCH_ROUND_SECONDS).toBe('');
  });
});
