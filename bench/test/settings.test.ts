import { describe, expect, it } from 'vitest';
import { readBenchSettings, SUBJECT_NAMES } from '../lib/settings.ts';

describe('readBenchSettings', () => {
  it('defaults: 8 s, 3 rounds, concurrency 2 x cores, 70% of the legacy, every subject', () => {
    expect(readBenchSettings({}, 2)).toEqual({
      seconds: 8,
      rounds: 3,
      concurrency: 4,
      fixedFraction: 0.7,
      fixedRps: undefined,
      subjects: [...SUBJECT_NAMES],
      outDir: undefined,
      cores: 2,
    });
  });
  it('reads every variable', () => {
    const s = readBenchSettings(
      {
        BENCH_SECONDS: '30',
        BENCH_ROUNDS: '5',
        BENCH_CONCURRENCY: '8',
        BENCH_FIXED_FRACTION: '0.5',
        BENCH_FIXED_RPS: '12.5',
        BENCH_SUBJECTS: 'sharp-limit, new',
        BENCH_OUT_DIR: '/tmp/x',
      },
      2,
    );
    expect(s).toMatchObject({ seconds: 30, rounds: 5, concurrency: 8, fixedFraction: 0.5, fixedRps: 12.5, outDir: '/tmp/x' });
    // Always in the canonical order, whatever order they were given in.
    expect(s.subjects).toEqual(['new', 'sharp-limit']);
  });
  it('reports every problem at once, naming the variable', () => {
    expect(() => readBenchSettings({ BENCH_SECONDS: 'ten', BENCH_ROUNDS: '1.5', BENCH_SUBJECTS: 'new,old' }, 2)).toThrow(
      /BENCH_SECONDS: expected a number from 1 to 3600, got 'ten'[\s\S]*BENCH_ROUNDS: expected an integer[\s\S]*BENCH_SUBJECTS: expected a comma-separated list/,
    );
  });
});
